/*
 * clock-shim.c — an LD_PRELOAD wall-clock skewer for redis-server (chaos tests, Linux only).
 *
 * Skews what the process sees as wall-clock time; monotonic clocks are left alone:
 *   - clock_gettime(CLOCK_REALTIME | CLOCK_REALTIME_COARSE, ...) is skewed;
 *   - every other clock id is passed straight to the kernel with syscall(SYS_clock_gettime, ...);
 *   - gettimeofday() and time() are skewed.
 *
 * Configuration: the file named by the environment variable CHAOS_CLOCK_FILE holds
 * "<offset_ms> <rate>", e.g. "8000 1" or "0 0.5". It is re-read at most every 50 ms (checked
 * on clock reads, and at once if the real clock stepped back by more than 1 s), so a test can change it while the server runs:
 *   - a change of rate is drift; skewed time stays continuous (the timeline is re-anchored at
 *     the moment the change is noticed);
 *   - a change of offset is a jump by the difference.
 *   skewed(t) = anchor_skew + (t - anchor_real) * rate + offset
 * A missing, unreadable or malformed file keeps the previous configuration (initially "0 1").
 *
 * Constraints (why it looks like this):
 *   - no malloc, no dlsym, no stdio: redis-server links jemalloc, which itself reads the clock;
 *     anything that allocates or resolves symbols lazily can recurse and hang at start-up;
 *   - the real time comes from the raw syscall; the file is read with raw openat/read/close
 *     into a stack buffer;
 *   - the file path is copied in a constructor, because Redis rewrites environ for its
 *     process title;
 *   - readers never block or take a lock (so a signal handler that reads the clock cannot
 *     deadlock): the configuration lives in two slots, each guarded by a sequence counter,
 *     and one atomic index says which slot is current. Only the thread that wins a try-flag
 *     re-reads the file and writes the other slot, then flips the index.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define REREAD_NS (50 * NS_PER_MS)
#define PATH_MAX_LEN 4096

struct cfg {
  int64_t anchor_real; /* real ns at the last re-anchor */
  int64_t anchor_skew; /* skewed ns (without offset) at the last re-anchor */
  int64_t offset;      /* ns added on top */
  double rate;         /* skewed ns per real ns since the anchor */
};

struct slot {
  uint32_t seq; /* odd while being written */
  struct cfg c;
};

/* Slot 0 starts as the identity: anchors 0, offset 0, rate 1. */
static struct slot slots[2] = {{0, {0, 0, 0, 1.0}}, {0, {0, 0, 0, 1.0}}};
static int active_slot;           /* index of the current slot (atomic) */
static char refreshing;           /* try-flag: one thread at a time re-reads the file */
static int64_t last_check = INT64_MIN / 2; /* real ns of the last file check (atomic) */
static int have_path;             /* set once the constructor copied the path (atomic) */
static char cfg_path[PATH_MAX_LEN];

static int64_t ts_to_ns(const struct timespec *ts) {
  return (int64_t)ts->tv_sec * NS_PER_S + (int64_t)ts->tv_nsec;
}

static void ns_to_ts(int64_t ns, struct timespec *ts) {
  if (ns < 0) ns = 0;
  ts->tv_sec = (time_t)(ns / NS_PER_S);
  ts->tv_nsec = (long)(ns % NS_PER_S);
}

/* Hides a pointer's declared nonnull-ness from the optimizer, so a NULL check is kept. */
#define LAUNDER(ptr) __asm__("" : "+r"(ptr))

static long raw_clock_gettime(clockid_t clk, struct timespec *ts) {
  return syscall(SYS_clock_gettime, clk, ts);
}

static void load_cfg(struct cfg *out) {
  /* Bounded: the writer only ever writes the slot that is not current, so a retry is needed
     only if it published twice while we were reading. */
  for (int tries = 0; tries < 1000; tries++) {
    int i = __atomic_load_n(&active_slot, __ATOMIC_ACQUIRE) & 1;
    struct slot *s = &slots[i];
    uint32_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (s1 & 1u) continue;
    out->anchor_real = __atomic_load_n(&s->c.anchor_real, __ATOMIC_RELAXED);
    out->anchor_skew = __atomic_load_n(&s->c.anchor_skew, __ATOMIC_RELAXED);
    out->offset = __atomic_load_n(&s->c.offset, __ATOMIC_RELAXED);
    __atomic_load(&s->c.rate, &out->rate, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == s1) return;
  }
  out->anchor_real = 0;
  out->anchor_skew = 0;
  out->offset = 0;
  out->rate = 1.0;
}

/* Only called by the thread holding `refreshing`. */
static void publish_cfg(const struct cfg *c) {
  int next = (__atomic_load_n(&active_slot, __ATOMIC_RELAXED) & 1) ^ 1;
  struct slot *s = &slots[next];
  uint32_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
  __atomic_store_n(&s->seq, q + 1u, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&s->c.anchor_real, c->anchor_real, __ATOMIC_RELAXED);
  __atomic_store_n(&s->c.anchor_skew, c->anchor_skew, __ATOMIC_RELAXED);
  __atomic_store_n(&s->c.offset, c->offset, __ATOMIC_RELAXED);
  double rate = c->rate;
  __atomic_store(&s->c.rate, &rate, __ATOMIC_RELAXED);
  __atomic_store_n(&s->seq, q + 2u, __ATOMIC_RELEASE);
  __atomic_store_n(&active_slot, next, __ATOMIC_RELEASE);
}

/* Skewed time without the offset: continuous across rate changes. */
static int64_t base_time(const struct cfg *c, int64_t real) {
  int64_t elapsed = real - c->anchor_real;
  if (c->rate == 1.0) return c->anchor_skew + elapsed;
  return c->anchor_skew + (int64_t)((double)elapsed * c->rate);
}

/* Parses [ws][+-]digits[.digits][(e|E)[+-]digits]; returns the position after it, or NULL. */
static const char *parse_number(const char *p, const char *end, double *out) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  int neg = 0;
  if (p < end && (*p == '+' || *p == '-')) {
    neg = *p == '-';
    p++;
  }
  double v = 0.0;
  int digits = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    v = v * 10.0 + (double)(*p - '0');
    p++;
    digits++;
  }
  if (p < end && *p == '.') {
    p++;
    double scale = 0.1;
    while (p < end && *p >= '0' && *p <= '9') {
      v += (double)(*p - '0') * scale;
      scale *= 0.1;
      p++;
      digits++;
    }
  }
  if (digits == 0 || digits > 30) return NULL;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = 0;
    if (p < end && (*p == '+' || *p == '-')) {
      eneg = *p == '-';
      p++;
    }
    int e = 0, edigits = 0;
    while (p < end && *p >= '0' && *p <= '9' && edigits < 4) {
      e = e * 10 + (*p - '0');
      p++;
      edigits++;
    }
    if (edigits == 0 || e > 300) return NULL;
    for (int k = 0; k < e; k++) v = eneg ? v / 10.0 : v * 10.0;
  }
  if (p < end && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) return NULL;
  *out = neg ? -v : v;
  return p;
}

/* Reads "<offset_ms> <rate>"; returns 1 on success. */
static int read_cfg_file(int64_t *offset_ns, double *rate) {
  char buf[256];
  long fd = syscall(SYS_openat, AT_FDCWD, cfg_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  long n = 0;
  for (int tries = 0; tries < 8 && n < (long)sizeof buf; tries++) {
    long r = syscall(SYS_read, (int)fd, buf + n, sizeof buf - (size_t)n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += r;
  }
  syscall(SYS_close, (int)fd);
  if (n <= 0 || n >= (long)sizeof buf) return 0;
  double off_ms, r;
  const char *p = parse_number(buf, buf + n, &off_ms);
  if (p == NULL) return 0;
  p = parse_number(p, buf + n, &r);
  if (p == NULL) return 0;
  /* |offset| up to ~100 years, rate in [0, 1e6]; NaN fails these comparisons. */
  if (!(off_ms > -3.2e12 && off_ms < 3.2e12)) return 0;
  if (!(r >= 0.0 && r <= 1e6)) return 0;
  double ns = off_ms * (double)NS_PER_MS;
  *offset_ns = (int64_t)(ns >= 0 ? ns + 0.5 : ns - 0.5);
  *rate = r;
  return 1;
}

static void maybe_refresh(int64_t real_hint, int force) {
  if (!__atomic_load_n(&have_path, __ATOMIC_ACQUIRE)) return;
  int64_t last = __atomic_load_n(&last_check, __ATOMIC_RELAXED);
  if (!force && real_hint - last < REREAD_NS && real_hint >= last - NS_PER_S) return;
  if (__atomic_test_and_set(&refreshing, __ATOMIC_ACQUIRE)) return; /* someone else is on it */
  int saved_errno = errno;
  struct timespec ts;
  if (raw_clock_gettime(CLOCK_REALTIME, &ts) == 0) {
    int64_t now = ts_to_ns(&ts);
    last = __atomic_load_n(&last_check, __ATOMIC_RELAXED);
    if (force || now - last >= REREAD_NS || now < last - NS_PER_S) {
      __atomic_store_n(&last_check, now, __ATOMIC_RELAXED);
      int64_t offset;
      double rate;
      if (read_cfg_file(&offset, &rate)) {
        struct cfg cur;
        load_cfg(&cur);
        if (rate != cur.rate || offset != cur.offset) {
          struct cfg next = cur;
          if (rate != cur.rate) { /* re-anchor so that time stays continuous */
            next.anchor_skew = base_time(&cur, now);
            next.anchor_real = now;
            next.rate = rate;
          }
          next.offset = offset;
          publish_cfg(&next);
        }
      }
    }
  }
  errno = saved_errno;
  __atomic_clear(&refreshing, __ATOMIC_RELEASE);
}

/* Real time of `clk` (a realtime clock) → skewed ns. Returns -1 (errno set) on failure. */
static int skewed_now(clockid_t clk, int64_t *out) {
  struct timespec ts;
  if (raw_clock_gettime(clk, &ts) != 0) return -1;
  int64_t real = ts_to_ns(&ts);
  maybe_refresh(real, 0);
  struct cfg c;
  load_cfg(&c);
  *out = base_time(&c, real) + c.offset;
  return 0;
}

__attribute__((constructor)) static void clock_shim_init(void) {
  const char *p = getenv("CHAOS_CLOCK_FILE"); /* getenv does not allocate */
  if (p == NULL || p[0] == '\0') return;
  size_t i = 0;
  for (; p[i] != '\0' && i < PATH_MAX_LEN - 1; i++) cfg_path[i] = p[i];
  if (p[i] != '\0') return; /* too long: stay the identity */
  cfg_path[i] = '\0';
  __atomic_store_n(&have_path, 1, __ATOMIC_RELEASE);
  maybe_refresh(0, 1);
}

int clock_gettime(clockid_t clk, struct timespec *tp) {
  if (clk != CLOCK_REALTIME && clk != CLOCK_REALTIME_COARSE) {
    return (int)raw_clock_gettime(clk, tp);
  }
  LAUNDER(tp);
  if (tp == NULL) {
    errno = EFAULT;
    return -1;
  }
  int64_t ns;
  if (skewed_now(clk, &ns) != 0) return -1;
  ns_to_ts(ns, tp);
  return 0;
}

#if defined(__GLIBC__) && !__GLIBC_PREREQ(2, 31)
int gettimeofday(struct timeval *tv, struct timezone *tz) {
#else
int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
#endif
  LAUNDER(tv);
  if (tv != NULL) {
    int64_t ns;
    if (skewed_now(CLOCK_REALTIME, &ns) != 0) return -1;
    struct timespec ts;
    ns_to_ts(ns, &ts);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
  }
  if (tz != NULL) {
    struct timezone *z = (struct timezone *)tz;
    z->tz_minuteswest = 0;
    z->tz_dsttime = 0;
  }
  return 0;
}

time_t time(time_t *out) {
  int64_t ns;
  if (skewed_now(CLOCK_REALTIME, &ns) != 0) return (time_t)-1;
  time_t t = (time_t)((ns < 0 ? 0 : ns) / NS_PER_S);
  if (out != NULL) *out = t;
  return t;
}
