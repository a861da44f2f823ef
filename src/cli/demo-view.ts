/**
 * The demo's live view. In a terminal: one line per worker plus a status line, redrawn in place
 * (ANSI: cursor up, clear to the end of the screen) ten times a second, with event lines scrolling
 * above them. Piped (a log, a test): the status line once a second, and the event lines.
 */

export interface WorkerView {
  grants: number;
  state: 'waiting' | 'holding' | 'stalled' | 'done';
  /** The token of the worker's current or last grant. */
  token: bigint | undefined;
}

export interface DemoView {
  /** A line that stays: an event, a header, the summary. */
  line(text: string): void;
  /** Starts redrawing (TTY) or printing the status line (piped). */
  start(): void;
  /** Stops, leaving the last drawing (TTY) on screen. */
  stop(): void;
}

const CSI = '\x1b[';

export function createView(options: {
  readonly write: (text: string) => void;
  readonly tty: boolean;
  readonly workers: readonly WorkerView[];
  /** The status line: time, grants, tokens, store, nodes. */
  readonly status: () => string;
  /** The terminal's width, when known. */
  readonly columns?: () => number | undefined;
}): DemoView {
  const { write, tty, workers, status, columns = () => process.stdout.columns } = options;
  let drawn = 0; // lines of the live block currently on screen (TTY only)
  let timer: NodeJS.Timeout | undefined;

  const workerLine = (w: WorkerView, i: number): string => {
    const state = w.state === 'stalled' ? 'STALLED (simulated GC pause)' : w.state;
    const token = w.token === undefined ? '' : `  token ${w.token}`;
    return `  worker ${String(i).padEnd(2)} ${String(w.grants).padStart(5)} grants${token}  ${state}`;
  };
  const erase = (): string => (drawn > 0 ? `${CSI}${drawn}A\r${CSI}J` : '');
  const draw = (): void => {
    // Cut to the terminal's width: a wrapped line would throw off the count of lines to go up.
    const width = Math.max(20, (columns() ?? 200) - 1);
    const block = [...workers.map(workerLine), `  ${status()}`].map((l) => l.slice(0, width));
    write(`${erase()}${block.join('\n')}\n`);
    drawn = block.length;
  };

  let lastStatus = performance.now();
  const printStatus = (): void => {
    lastStatus = performance.now();
    write(`${status()}\n`);
  };

  return {
    line(text) {
      if (!tty) return write(`${text}\n`);
      write(`${erase()}${text}\n`);
      drawn = 0;
      if (timer !== undefined) draw();
    },
    start() {
      if (tty) draw();
      timer = setInterval(tty ? draw : printStatus, tty ? 100 : 1_000);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      if (tty) draw();
      else if (performance.now() - lastStatus > 500) printStatus(); // the state at the end
      drawn = 0;
    },
  };
}
