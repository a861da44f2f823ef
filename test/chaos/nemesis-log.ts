/**
 * The nemesis log: every fault the harness injects, with its verified effect (reference §4.1:
 * `{nemesis, f, value, effective}`), on the same monotonic clock as the client histories.
 * A fault is a window: `start` … `stop` events sharing an `id`; instant faults (a crash, a clock
 * jump) have only `start`.
 */
import { appendFileSync } from 'node:fs';
import { hrNow, toJsonLine } from './history.js';

export interface NemesisEvent {
  readonly t: bigint;
  /** Window id (`start` and `stop` of one fault share it). */
  readonly id: number;
  /** What kind of fault: `partition`, `pause-node`, `crash-node`, `clock`, `pause-client`, … */
  readonly nemesis: string;
  readonly f: 'start' | 'stop' | 'note';
  /** What was targeted, human-readable (e.g. `p0→n3,n4 blackhole`). */
  readonly value: string;
  /** The verified effect (true/false), or undefined where nothing could be verified. */
  readonly effective?: boolean;
  /** What the verification saw. */
  readonly detail?: string;
}

export interface FaultWindow {
  readonly id: number;
  readonly nemesis: string;
  readonly value: string;
  /** When injecting began (the fault may affect some links from here on). */
  readonly start: bigint;
  /** When the fault was fully in place (every link), if recorded; else `start`. */
  readonly applied: bigint;
  /** When undoing it began. Undefined for an instant fault, or one still open at the end. */
  readonly end: bigint | undefined;
  readonly effective: boolean | undefined;
}

export class NemesisLog {
  readonly events: NemesisEvent[] = [];
  #nextId = 1;
  readonly #file: string | undefined;
  readonly #onEvent: ((event: NemesisEvent) => void) | undefined;

  constructor(file?: string, onEvent?: (event: NemesisEvent) => void) {
    this.#file = file;
    this.#onEvent = onEvent;
  }

  /** Opens a window (or records an instant fault); returns its id for {@link stop}. */
  start(nemesis: string, value: string, effective?: boolean, detail?: string): number {
    const id = this.#nextId++;
    this.#push({ t: hrNow(), id, nemesis, f: 'start', value, ...opt(effective, detail) });
    return id;
  }

  /** Records that a started fault was verified (or not) after the fact. */
  verify(id: number, effective: boolean, detail?: string): void {
    const start = this.events.find((e) => e.id === id && e.f === 'start');
    this.#push({ t: hrNow(), id, nemesis: start?.nemesis ?? '?', f: 'note', value: start?.value ?? '', ...opt(effective, detail) });
  }

  /** Records that a started fault is now fully in place. */
  applied(id: number): void {
    const start = this.events.find((e) => e.id === id && e.f === 'start');
    this.#push({ t: hrNow(), id, nemesis: start?.nemesis ?? '?', f: 'note', value: start?.value ?? '', detail: 'applied' });
  }

  stop(id: number, detail?: string): void {
    const start = this.events.find((e) => e.id === id && e.f === 'start');
    if (start === undefined || this.events.some((e) => e.id === id && e.f === 'stop')) return;
    this.#push({ t: hrNow(), id, nemesis: start.nemesis, f: 'stop', value: start.value, ...opt(undefined, detail) });
  }

  /** A free-form note (e.g. "heal", "marked ready by hand"). */
  note(nemesis: string, value: string, detail?: string): void {
    this.#push({ t: hrNow(), id: 0, nemesis, f: 'note', value, ...opt(undefined, detail) });
  }

  /** Ids of windows that were started and not stopped. */
  open(nemesis?: string): number[] {
    const stopped = new Set(this.events.filter((e) => e.f === 'stop').map((e) => e.id));
    return this.events.filter((e) => e.f === 'start' && !stopped.has(e.id) && (nemesis === undefined || e.nemesis === nemesis)).map((e) => e.id);
  }

  /** The fault windows, with the latest verification of each. */
  windows(): FaultWindow[] {
    const out: FaultWindow[] = [];
    for (const s of this.events) {
      if (s.f !== 'start') continue;
      const stop = this.events.find((e) => e.id === s.id && e.f === 'stop');
      const verdicts = this.events.filter((e) => e.id === s.id && e.effective !== undefined);
      const last = verdicts[verdicts.length - 1];
      const applied = this.events.find((e) => e.id === s.id && e.f === 'note' && e.detail === 'applied')?.t ?? s.t;
      out.push({ id: s.id, nemesis: s.nemesis, value: s.value, start: s.t, applied, end: stop?.t, effective: last?.effective });
    }
    return out;
  }

  /** How many faults were verified effective. */
  effectiveCount(): number {
    return this.windows().filter((w) => w.effective === true).length;
  }

  #push(event: NemesisEvent): void {
    this.events.push(event);
    if (this.#file !== undefined) appendFileSync(this.#file, `${toJsonLine(event)}\n`);
    this.#onEvent?.(event);
  }
}

function opt(effective: boolean | undefined, detail: string | undefined): { effective?: boolean; detail?: string } {
  const out: { effective?: boolean; detail?: string } = {};
  if (effective !== undefined) out.effective = effective;
  if (detail !== undefined) out.detail = detail;
  return out;
}
