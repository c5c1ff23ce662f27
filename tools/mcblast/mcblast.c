// mcblast: a load generator for memcached-compatible servers, used by the benchmark scripts.
//
// Connections are spread over one or more threads, each thread one epoll loop over non-blocking
// sockets; every connection keeps `depth` requests in flight. Text or binary protocol; gets, sets and
// text multi-gets. Every reply is checked: a set must be stored, a get hit must carry the value this
// tool sets for that key (its value is derived from the key), and a miss is an error for a key known to
// be set when the get was sent (unless --may-miss: a server that evicts). Prints one line of key=value fields (see usage()).
//
// build: cc -O2 -o mcblast mcblast.c -pthread
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 4096
#define MAX_KEYS_PER_GET 100
#define MAX_KEY_LEN 250 // memcached's key limit
#define PRELOAD_DEPTH 32 // sets in flight per connection while preloading
#define MAX_LINE 4096 // a reply line longer than this is not a reply to anything we sent
#define ERROR_SAMPLES 10 // errors described on stderr; the rest are only counted

// ---- options ------------------------------------------------------------------------------------

static struct {
  const char *host, *port, *prefix;
  int conns, depth, threads, keys_per_get, value_size, binary, preload, expect_hits, may_miss;
  long keys;
  double duration, set_ratio, timeout;
} opt = {"127.0.0.1", "11211", "key:", 50, 1, 1, 1, 100, 0, 0, 0, 0, 10000, 5, 0.1, 5};

static int key_digits, key_len, prefix_len; // key = prefix + key number, zero-padded to key_digits
static uint32_t set_threshold; // a request is a set when a 32-bit random number is below this
static char *pattern; // value bytes after the key name: pattern + (key % 62) + key_len
static _Atomic unsigned char *stored; // keys known to be set (a STORED reply seen), when not --expect-hits
static atomic_int error_samples;

static void usage(FILE *f) {
  fprintf(f,
          "usage: mcblast [options]\n"
          "  -H, --host HOST          server host (default 127.0.0.1)\n"
          "  -p, --port PORT          server port (default 11211)\n"
          "  -c, --conns N            connections (default 50)\n"
          "  -d, --depth N            requests in flight per connection, pipelined (default 1, at most %d)\n"
          "  -T, --threads N          threads, the connections spread over them (default 1)\n"
          "  -t, --duration S         seconds of measured load (default 5; 0 with --preload: only set the keys)\n"
          "  -r, --set-ratio F        share of requests that are sets, the rest gets (default 0.1)\n"
          "  -v, --value-size N       value bytes (default 100)\n"
          "  -k, --keys N             key space: keys PREFIX00000000 up to N-1 (default 10000)\n"
          "  -x, --key-prefix S       key prefix (default \"key:\")\n"
          "  -g, --keys-per-get N     keys in each get, a text multi-get counted as one request (default 1, at most %d)\n"
          "  -B, --binary             binary protocol (Get and Set) instead of text\n"
          "  -P, --preload            set every key before the measured run\n"
          "  -E, --expect-hits        every key was set before this run: any miss is an error\n"
          "  -M, --may-miss           the server may evict (it holds less than the key space): no miss is an error\n"
          "      --timeout S          a connection with requests in flight and no reply for S seconds fails (default 5)\n"
          "  -h, --help               this text\n"
          "Prints one line: ops_per_sec p50_us p99_us p999_us max_us ops hits misses errors seconds ...\n"
          "(hits and misses count keys; ops count requests). Exits 1 when any reply was wrong, 2 on bad usage\n"
          "or when the server cannot be reached.\n",
          MAX_DEPTH, MAX_KEYS_PER_GET);
}

static double number_arg(const char *name, const char *s, double lo, double hi) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "mcblast: %s takes a number from %g to %g, not \"%s\"\n", name, lo, hi, s);
    exit(2);
  }
  return v;
}

static long whole_arg(const char *name, const char *s, long lo, long hi) {
  double v = number_arg(name, s, (double)lo, (double)hi);
  if (v != (long)v) {
    fprintf(stderr, "mcblast: %s takes a whole number, not \"%s\"\n", name, s);
    exit(2);
  }
  return (long)v;
}

// ---- time and latency histogram -----------------------------------------------------------------

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Log-linear buckets over nanoseconds: 32 per power of two, so a bucket is within 3% of its values.
#define SUB_BITS 5
#define BUCKETS (64 << SUB_BITS)

static int bucket_of(uint64_t ns) {
  if (ns < (1u << SUB_BITS)) return (int)ns;
  int shift = 63 - __builtin_clzll(ns) - SUB_BITS;
  return ((shift + 1) << SUB_BITS) + (int)((ns >> shift) & ((1u << SUB_BITS) - 1));
}

static double bucket_mid_ns(int b) {
  if (b < (2 << SUB_BITS)) return b;
  int shift = (b >> SUB_BITS) - 1;
  uint64_t low = (uint64_t)((1u << SUB_BITS) + (b & ((1u << SUB_BITS) - 1))) << shift;
  return (double)low + (double)(1ull << shift) / 2;
}

static double percentile_us(const uint64_t *hist, uint64_t total, double p) {
  if (total == 0) return 0;
  uint64_t rank = (uint64_t)(p * (double)total);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int b = 0; b < BUCKETS; b++) {
    seen += hist[b];
    if (seen >= rank) return bucket_mid_ns(b) / 1000;
  }
  return 0;
}

// ---- keys and values ----------------------------------------------------------------------------

static void key_name(char *dst, uint32_t k) {
  memcpy(dst, opt.prefix, (size_t)prefix_len);
  char *d = dst + key_len;
  for (int i = 0; i < key_digits; i++, k /= 10) *--d = (char)('0' + k % 10);
}

// The key number of a key name, or -1 when it is not one of ours.
static long key_number(const char *s, size_t n) {
  if (n != (size_t)key_len || memcmp(s, opt.prefix, (size_t)prefix_len)) return -1;
  long k = 0;
  for (size_t i = (size_t)prefix_len; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    k = k * 10 + (s[i] - '0');
  }
  return k < opt.keys ? k : -1;
}

// A key's value: its key name, then the pattern from an offset the key picks.
static void write_value(char *dst, uint32_t k) {
  char name[MAX_KEY_LEN];
  key_name(name, k);
  int v = opt.value_size, head = key_len < v ? key_len : v;
  memcpy(dst, name, (size_t)head);
  if (v > head) memcpy(dst + head, pattern + k % 62 + head, (size_t)(v - head));
}

static int value_matches(const char *data, uint32_t k) {
  char name[MAX_KEY_LEN];
  key_name(name, k);
  int v = opt.value_size, head = key_len < v ? key_len : v;
  return !memcmp(data, name, (size_t)head) && (v == head || !memcmp(data + head, pattern + k % 62 + head, (size_t)(v - head)));
}

// ---- connections and threads --------------------------------------------------------------------

typedef struct {
  uint64_t sent_ns;
  uint32_t opaque; // binary: the request's opaque, echoed by the reply
  uint8_t is_set, nkeys;
} slot_t;

struct thread;

typedef struct {
  int fd, dead, want_out;
  struct thread *t;
  char *rbuf;
  size_t rcap, rpos, rlen, rneed; // parse again once rlen reaches rneed
  char *wbuf;
  size_t wcap, wpos, wlen;
  slot_t *slots; // ring of requests in flight, oldest at head
  uint32_t *keys; // keys_per_get key numbers per slot
  uint8_t *must_hit; // per key of a slot: known to be set when the get was sent
  unsigned head, count, mask;
  uint32_t next_opaque;
} conn_t;

typedef struct thread {
  int id, epfd, nconns, alive;
  conn_t **conns;
  pthread_t tid;
  uint64_t rng;
  long inflight;
  int measuring;
  uint32_t preload_next, preload_end;
  uint64_t last_reply_ns;
  // results
  uint64_t hist[BUCKETS], max_ns, sum_ns;
  long ops, hits, misses, errors;
} thread_t;

static pthread_barrier_t preloaded, started;
static uint64_t start_ns, preload_start_ns;

static uint64_t rnd(thread_t *t) { // xorshift64*
  t->rng ^= t->rng >> 12;
  t->rng ^= t->rng << 25;
  t->rng ^= t->rng >> 27;
  return t->rng * 2685821657736338717ull;
}

static uint32_t random_key(thread_t *t) { return (uint32_t)(((rnd(t) >> 32) * (uint64_t)opt.keys) >> 32); }

static void error_at(conn_t *c, long n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void error_at(conn_t *c, long n, const char *fmt, ...) {
  c->t->errors += n;
  int seen = atomic_fetch_add(&error_samples, 1);
  if (seen < ERROR_SAMPLES) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mcblast: error: %s\n", msg);
  } else if (seen == ERROR_SAMPLES) {
    fprintf(stderr, "mcblast: further errors are counted, not shown\n");
  }
}

// A reply the stream cannot be read past: the connection is closed and its requests in flight are errors.
static void conn_fail(conn_t *c, const char *why) {
  if (c->dead) return;
  error_at(c, c->count, "%s (connection closed, %u request(s) in flight counted as errors)", why, c->count);
  c->t->inflight -= c->count;
  c->count = 0;
  c->dead = 1;
  c->t->alive--;
  close(c->fd);
}

static char *wreserve(conn_t *c, size_t n) {
  if (c->wlen + n > c->wcap) {
    if (c->wpos > 0) {
      memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
      c->wlen -= c->wpos;
      c->wpos = 0;
    }
    if (c->wlen + n > c->wcap) {
      c->wcap = (c->wlen + n) * 2;
      if (!(c->wbuf = realloc(c->wbuf, c->wcap))) abort();
    }
  }
  char *p = c->wbuf + c->wlen;
  c->wlen += n;
  return p;
}

static void put16(unsigned char *b, unsigned v) { b[0] = (unsigned char)(v >> 8), b[1] = (unsigned char)v; }
static void put32(unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)(v >> 24), b[1] = (unsigned char)(v >> 16), b[2] = (unsigned char)(v >> 8), b[3] = (unsigned char)v;
}
static uint32_t get32(const unsigned char *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

static int known_set(uint32_t k) {
  return !opt.may_miss && (opt.expect_hits || atomic_load_explicit(&stored[k], memory_order_relaxed));
}

/** Queue one request: a set of key `first`, or a get of `first` (and keys_per_get - 1 random keys). */
static void enqueue(conn_t *c, int is_set, uint32_t first, uint64_t now) {
  thread_t *t = c->t;
  unsigned i = (c->head + c->count) & c->mask;
  slot_t *s = &c->slots[i];
  uint32_t *keys = &c->keys[(size_t)i * opt.keys_per_get];
  uint8_t *must = &c->must_hit[(size_t)i * opt.keys_per_get];
  s->sent_ns = now;
  s->is_set = (uint8_t)is_set;
  s->nkeys = (uint8_t)(is_set ? 1 : opt.keys_per_get);
  s->opaque = c->next_opaque++;
  keys[0] = first;
  for (int j = 1; j < s->nkeys; j++) keys[j] = random_key(t);
  if (!is_set)
    for (int j = 0; j < s->nkeys; j++) must[j] = (uint8_t)known_set(keys[j]);
  c->count++;
  t->inflight++;

  int v = opt.value_size;
  if (opt.binary) {
    size_t extras = is_set ? 8 : 0, body = extras + (size_t)key_len + (is_set ? (size_t)v : 0);
    unsigned char *h = (unsigned char *)wreserve(c, 24 + body);
    memset(h, 0, 24 + extras); // flags 0, exptime 0
    h[0] = 0x80;
    h[1] = is_set ? 0x01 : 0x00;
    put16(h + 2, (unsigned)key_len);
    h[4] = (unsigned char)extras;
    put32(h + 8, (uint32_t)body);
    put32(h + 12, s->opaque);
    key_name((char *)h + 24 + extras, first);
    if (is_set) write_value((char *)h + 24 + extras + key_len, first);
  } else if (is_set) {
    char tail[32];
    int tl = snprintf(tail, sizeof tail, " 0 0 %d\r\n", v);
    char *p = wreserve(c, 4 + (size_t)key_len + (size_t)tl + (size_t)v + 2);
    memcpy(p, "set ", 4), p += 4;
    key_name(p, first), p += key_len;
    memcpy(p, tail, (size_t)tl), p += tl;
    write_value(p, first), p += v;
    memcpy(p, "\r\n", 2);
  } else {
    char *p = wreserve(c, 3 + (size_t)s->nkeys * (1 + (size_t)key_len) + 2);
    memcpy(p, "get", 3), p += 3;
    for (int j = 0; j < s->nkeys; j++) *p++ = ' ', key_name(p, keys[j]), p += key_len;
    memcpy(p, "\r\n", 2);
  }
}

static void set_events(conn_t *c, int want_out) {
  if (c->want_out == want_out) return;
  c->want_out = want_out;
  struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(c->t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush(conn_t *c) {
  while (c->wpos < c->wlen) {
    ssize_t n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_events(c, 1);
        return;
      }
      if (errno == EINTR) continue;
      char why[128];
      snprintf(why, sizeof why, "write: %s", strerror(errno));
      conn_fail(c, why);
      return;
    }
    c->wpos += (size_t)n;
  }
  c->wpos = c->wlen = 0;
  set_events(c, 0);
}

/** Requests to keep the connection full: random gets and sets, or the next keys to preload. */
static void fill(conn_t *c, int preloading, uint64_t now) {
  thread_t *t = c->t;
  if (preloading) {
    while (c->count < PRELOAD_DEPTH && t->preload_next < t->preload_end) enqueue(c, 1, t->preload_next++, now);
    return;
  }
  while (c->count < (unsigned)opt.depth) {
    int is_set = (uint32_t)(rnd(t) >> 32) < set_threshold;
    enqueue(c, is_set, random_key(t), now);
  }
}

// The oldest request in flight is answered: its latency and outcome are counted.
static void complete(conn_t *c, uint64_t now, long hits, long misses) {
  thread_t *t = c->t;
  slot_t *s = &c->slots[c->head];
  c->head = (c->head + 1) & c->mask;
  c->count--;
  t->inflight--;
  t->last_reply_ns = now;
  if (!t->measuring) return;
  uint64_t ns = now > s->sent_ns ? now - s->sent_ns : 0;
  t->hist[bucket_of(ns)]++;
  if (ns > t->max_ns) t->max_ns = ns;
  t->sum_ns += ns;
  t->ops++;
  t->hits += hits;
  t->misses += misses;
}

static void describe_key(char *dst, uint32_t k) {
  key_name(dst, k);
  dst[key_len] = 0;
}

// A miss of key k (the j-th of the oldest request): an error when the key was known to be set.
static long miss(conn_t *c, int j) {
  unsigned i = c->head;
  if (!c->must_hit[(size_t)i * opt.keys_per_get + j]) return 1;
  char name[MAX_KEY_LEN + 1];
  describe_key(name, c->keys[(size_t)i * opt.keys_per_get + j]);
  error_at(c, 1, "get %s: a miss, but %s", name, opt.expect_hits ? "--expect-hits says every key was set" : "the key was stored before the get was sent");
  return 0;
}

// The printable start of a line, for error messages.
static const char *shown(const char *p, size_t n, char *buf, size_t cap) {
  size_t m = 0;
  for (size_t i = 0; i < n && m + 4 < cap; i++) buf[m++] = (p[i] >= 32 && p[i] < 127) ? p[i] : '?';
  buf[m] = 0;
  return buf;
}

enum { DONE, MORE, FAILED };

/**
 * The reply to the oldest text request. With check 0, only whether all of it has arrived (MORE when
 * not); with check 1 (once it has), each part checked, counted and consumed, so nothing is counted twice.
 */
static int text_reply(conn_t *c, uint64_t now, int check) {
  slot_t *s = &c->slots[c->head];
  const uint32_t *keys = &c->keys[(size_t)c->head * opt.keys_per_get];
  const char *p = c->rbuf + c->rpos;
  size_t avail = c->rlen - c->rpos, off = 0;
  char name[MAX_KEY_LEN + 1], line[96];
  long hits = 0, misses = 0;
  int next = 0; // the first of the request's keys not yet matched by a VALUE
  for (;;) {
    const char *l = p + off;
    const char *nl = memchr(l, '\n', avail - off);
    if (!nl) {
      if (avail - off > MAX_LINE) return conn_fail(c, "a reply line longer than 4096 bytes"), FAILED;
      c->rneed = c->rlen + 1;
      return MORE;
    }
    size_t len = (size_t)(nl - l) + 1;
    if (len < 2 || nl[-1] != '\r') return conn_fail(c, "a reply line not ended by \\r\\n"), FAILED;
    int end_of_reply = s->is_set || (len == 5 && !memcmp(l, "END", 3)) || len < 6 || memcmp(l, "VALUE ", 6);
    if (end_of_reply && !check) return DONE;
    if (s->is_set) {
      describe_key(name, keys[0]);
      if (!(len == 8 && !memcmp(l, "STORED", 6))) error_at(c, 1, "set %s: got \"%s\"", name, shown(l, len - 2, line, sizeof line));
      else if (!opt.expect_hits) atomic_store_explicit(&stored[keys[0]], 1, memory_order_relaxed);
    } else if (len == 5 && !memcmp(l, "END", 3)) {
      for (; next < s->nkeys; next++) misses += miss(c, next);
    } else if (end_of_reply) {
      // ERROR, CLIENT_ERROR, SERVER_ERROR ...: the whole reply to this get
      describe_key(name, keys[0]);
      error_at(c, 1, "get %s%s: got \"%s\"", name, s->nkeys > 1 ? " ..." : "", shown(l, len - 2, line, sizeof line));
    }
    if (end_of_reply) {
      c->rpos += off + len;
      complete(c, now, hits, misses);
      return DONE;
    }
    // VALUE <key> <flags> <bytes>[ <cas>]
    const char *tok[5];
    size_t tlen[5];
    int ntok = 0;
    for (const char *q = l + 6, *end = nl - 1; q < end && ntok < 5;) {
      while (q < end && *q == ' ') q++;
      if (q >= end) break;
      tok[ntok] = q;
      while (q < end && *q != ' ') q++;
      tlen[ntok] = (size_t)(q - tok[ntok]);
      ntok++;
    }
    if (ntok < 3) return conn_fail(c, "a VALUE line without key, flags and length"), FAILED;
    char *end;
    long bytes = strtol(tok[2], &end, 10);
    if (end != tok[2] + tlen[2] || bytes < 0 || bytes > (64L << 20)) return conn_fail(c, "a VALUE line without a valid length"), FAILED;
    size_t need = off + len + (size_t)bytes + 2;
    if (avail < need) {
      c->rneed = c->rpos + need + 5;
      return MORE;
    }
    const char *data = nl + 1;
    if (memcmp(data + bytes, "\r\n", 2)) return conn_fail(c, "a value not followed by \\r\\n"), FAILED;
    off = need;
    if (!check) continue;
    long k = key_number(tok[0], tlen[0]);
    int j = next;
    while (j < s->nkeys && (long)keys[j] != k) j++;
    if (j == s->nkeys) {
      error_at(c, 1, "\"%s\": a key that was not asked for, or out of order", shown(l, len - 2, line, sizeof line));
      continue;
    }
    for (; next < j; next++) misses += miss(c, next);
    next = j + 1;
    if (bytes != opt.value_size)
      error_at(c, 1, "\"%s\": a value of another length than the %d bytes this tool sets (set by a run with another --value-size?)",
               shown(l, len - 2, line, sizeof line), opt.value_size);
    else if (tlen[1] != 1 || tok[1][0] != '0') error_at(c, 1, "\"%s\": flags other than the 0 this tool sets", shown(l, len - 2, line, sizeof line));
    else if (!value_matches(data, (uint32_t)k)) error_at(c, 1, "get %s: the value is not the one this tool sets for it", shown(tok[0], tlen[0], name, sizeof name));
    else hits++;
  }
}

/** Read the reply to the oldest binary request from the buffer; MORE when it has not all arrived. */
static int binary_reply(conn_t *c, uint64_t now) {
  slot_t *s = &c->slots[c->head];
  uint32_t k = c->keys[(size_t)c->head * opt.keys_per_get];
  size_t avail = c->rlen - c->rpos;
  const unsigned char *h = (const unsigned char *)c->rbuf + c->rpos;
  char name[MAX_KEY_LEN + 1], msg[200];
  if (avail < 24) {
    c->rneed = c->rpos + 24;
    return MORE;
  }
  if (h[0] != 0x81) {
    snprintf(msg, sizeof msg, "a reply with magic 0x%02x, not a binary protocol response (0x81)", h[0]);
    return conn_fail(c, msg), FAILED;
  }
  unsigned op = h[1], keylen = (unsigned)h[2] << 8 | h[3], extlen = h[4], status = (unsigned)h[6] << 8 | h[7];
  uint32_t body = get32(h + 8), opaque = get32(h + 12);
  if (op != (s->is_set ? 0x01u : 0x00u) || opaque != s->opaque || (size_t)extlen + keylen > body || body > (64u << 20)) {
    snprintf(msg, sizeof msg, "a reply (opcode 0x%02x, opaque %u, body %u) to another request than the oldest (opcode 0x%02x, opaque %u)", op,
             opaque, body, s->is_set ? 1 : 0, s->opaque);
    return conn_fail(c, msg), FAILED;
  }
  if (avail < 24 + (size_t)body) {
    c->rneed = c->rpos + 24 + body;
    return MORE;
  }
  describe_key(name, k);
  long hits = 0, misses = 0;
  if (s->is_set) {
    if (status != 0) error_at(c, 1, "set %s: status 0x%04x", name, status);
    else if (!opt.expect_hits) atomic_store_explicit(&stored[k], 1, memory_order_relaxed);
  } else if (status == 0) {
    const unsigned char *data = h + 24 + extlen + keylen;
    if (extlen != 4 || keylen != 0 || body - 4 != (uint32_t)opt.value_size)
      error_at(c, 1, "get %s: a hit with %u extras bytes, a %u-byte key and %u value bytes (expected 4, 0, %d)", name, extlen, keylen, body - extlen - keylen,
               opt.value_size);
    else if (get32(h + 24) != 0) error_at(c, 1, "get %s: flags %u, not the 0 this tool sets", name, get32(h + 24));
    else if (!value_matches((const char *)data, k)) error_at(c, 1, "get %s: the value is not the one this tool sets for it", name);
    else hits = 1;
  } else if (status == 1) {
    misses = miss(c, 0);
  } else {
    error_at(c, 1, "get %s: status 0x%04x", name, status);
  }
  c->rpos += 24 + body;
  complete(c, now, hits, misses);
  return DONE;
}

static void readable(conn_t *c, uint64_t now) {
  if (c->rpos == c->rlen) c->rpos = c->rlen = 0;
  size_t want = c->rneed > c->rlen + 4096 ? c->rneed - c->rlen : 4096; // room for at least this much
  if (c->rcap - c->rlen < want && c->rpos > 0) {
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rneed -= c->rneed > c->rpos ? c->rpos : c->rneed;
    c->rpos = 0;
  }
  if (c->rcap - c->rlen < want) {
    c->rcap = (c->rlen + want) * 2;
    if (!(c->rbuf = realloc(c->rbuf, c->rcap))) abort();
  }
  ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
  if (n == 0) {
    conn_fail(c, "the server closed the connection");
    return;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    char why[128];
    snprintf(why, sizeof why, "read: %s", strerror(errno));
    conn_fail(c, why);
    return;
  }
  c->rlen += (size_t)n;
  if (c->rlen < c->rneed) return;
  c->rneed = 0;
  while (c->count > 0 && c->rpos < c->rlen) {
    int r = opt.binary ? binary_reply(c, now) : text_reply(c, now, 0);
    if (r == DONE && !opt.binary) r = text_reply(c, now, 1);
    if (r != DONE) return;
  }
  if (c->count == 0 && c->rpos < c->rlen) conn_fail(c, "bytes from the server after the replies to every request");
}

/** One phase of the event loop: preload (sets of this thread's keys) or the measured run until `deadline`. */
static void run(thread_t *t, int preloading, uint64_t deadline) {
  uint64_t now = now_ns(), timeout = (uint64_t)(opt.timeout * 1e9);
  int stopping = 0;
  t->last_reply_ns = now;
  for (int i = 0; i < t->nconns; i++)
    if (!t->conns[i]->dead) fill(t->conns[i], preloading, now), flush(t->conns[i]);
  struct epoll_event evs[256];
  for (;;) {
    now = now_ns();
    if (!preloading && !stopping && now >= deadline) stopping = 1;
    if (t->alive == 0 || (t->inflight == 0 && (stopping || (preloading && t->preload_next >= t->preload_end)))) return;
    if (t->inflight > 0 && now - t->last_reply_ns > timeout) {
      char why[96];
      snprintf(why, sizeof why, "no reply for %g s", opt.timeout);
      for (int i = 0; i < t->nconns; i++)
        if (t->conns[i]->count > 0) conn_fail(t->conns[i], why);
      continue;
    }
    uint64_t wake = t->last_reply_ns + timeout + 1000000;
    if (!preloading && !stopping && deadline < wake) wake = deadline;
    int ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
    int n = epoll_wait(t->epfd, evs, 256, ms);
    if (n < 0 && errno != EINTR) perror("mcblast: epoll_wait"), exit(2);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c->dead) continue;
      now = now_ns();
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) readable(c, now);
      if (c->dead) continue;
      if (!stopping) fill(c, preloading, now);
      if (c->wpos < c->wlen) flush(c);
    }
  }
}

static void *thread_main(void *arg) {
  thread_t *t = arg;
  if (opt.preload) run(t, 1, 0);
  pthread_barrier_wait(&preloaded);
  if (t->id == 0) start_ns = now_ns();
  pthread_barrier_wait(&started);
  if (opt.duration > 0) {
    t->measuring = 1;
    run(t, 0, start_ns + (uint64_t)(opt.duration * 1e9));
    t->measuring = 0;
  }
  return NULL;
}

static int dial(const struct addrinfo *ai) {
  int err = ECONNREFUSED;
  for (; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      return fd;
    }
    err = errno;
    close(fd);
  }
  errno = err;
  return -1;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"host", required_argument, 0, 'H'},       {"port", required_argument, 0, 'p'},     {"conns", required_argument, 0, 'c'},
      {"depth", required_argument, 0, 'd'},      {"threads", required_argument, 0, 'T'},  {"duration", required_argument, 0, 't'},
      {"set-ratio", required_argument, 0, 'r'},  {"value-size", required_argument, 0, 'v'}, {"keys", required_argument, 0, 'k'},
      {"key-prefix", required_argument, 0, 'x'}, {"keys-per-get", required_argument, 0, 'g'}, {"binary", no_argument, 0, 'B'},
      {"preload", no_argument, 0, 'P'},          {"expect-hits", no_argument, 0, 'E'},    {"timeout", required_argument, 0, 1},
      {"may-miss", no_argument, 0, 'M'},         {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "H:p:c:d:T:t:r:v:k:x:g:BPEMh", longopts, NULL)) != -1) {
    switch (o) {
      case 'H': opt.host = optarg; break;
      case 'p': whole_arg("--port", optarg, 1, 65535), opt.port = optarg; break;
      case 'c': opt.conns = (int)whole_arg("--conns", optarg, 1, 100000); break;
      case 'd': opt.depth = (int)whole_arg("--depth", optarg, 1, MAX_DEPTH); break;
      case 'T': opt.threads = (int)whole_arg("--threads", optarg, 1, 1024); break;
      case 't': opt.duration = number_arg("--duration", optarg, 0, 86400); break;
      case 'r': opt.set_ratio = number_arg("--set-ratio", optarg, 0, 1); break;
      case 'v': opt.value_size = (int)whole_arg("--value-size", optarg, 0, 64 << 20); break;
      case 'k': opt.keys = whole_arg("--keys", optarg, 1, 4000000000L); break;
      case 'x': opt.prefix = optarg; break;
      case 'g': opt.keys_per_get = (int)whole_arg("--keys-per-get", optarg, 1, MAX_KEYS_PER_GET); break;
      case 'B': opt.binary = 1; break;
      case 'P': opt.preload = 1; break;
      case 'E': opt.expect_hits = 1; break;
      case 'M': opt.may_miss = 1; break;
      case 1: opt.timeout = number_arg("--timeout", optarg, 0.001, 3600); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mcblast: unexpected argument \"%s\"\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  if (opt.binary && opt.keys_per_get > 1) {
    fprintf(stderr, "mcblast: --keys-per-get above 1 is a text multi-get: not with --binary\n");
    return 2;
  }
  if (opt.expect_hits && opt.may_miss) {
    fprintf(stderr, "mcblast: --expect-hits and --may-miss contradict each other\n");
    return 2;
  }
  if (opt.duration == 0 && !opt.preload) {
    fprintf(stderr, "mcblast: --duration 0 only sets the keys, so it needs --preload\n");
    return 2;
  }
  if (opt.threads > opt.conns) opt.threads = opt.conns;
  for (long n = opt.keys - 1, d = 0; d == 0 || n > 0; n /= 10) key_digits = (int)++d;
  if (key_digits < 8) key_digits = 8;
  prefix_len = (int)strlen(opt.prefix);
  key_len = prefix_len + key_digits;
  if (key_len > MAX_KEY_LEN) {
    fprintf(stderr, "mcblast: --key-prefix makes keys of %d bytes, beyond memcached's %d\n", key_len, MAX_KEY_LEN);
    return 2;
  }
  for (const char *q = opt.prefix; *q; q++)
    if (*q <= ' ' || *q == 127) {
      fprintf(stderr, "mcblast: --key-prefix may not hold spaces or control characters\n");
      return 2;
    }
  set_threshold = opt.set_ratio >= 1 ? UINT32_MAX : (uint32_t)(opt.set_ratio * 4294967296.0);
  static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  pattern = malloc((size_t)opt.value_size + 64);
  for (size_t i = 0; i < (size_t)opt.value_size + 64; i++) pattern[i] = alphabet[i % 62];
  if (!opt.expect_hits && !(stored = calloc((size_t)opt.keys, 1))) abort();

  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
  int gai = getaddrinfo(opt.host, opt.port, &hints, &ai);
  if (gai) {
    fprintf(stderr, "mcblast: cannot resolve %s: %s\n", opt.host, gai_strerror(gai));
    return 2;
  }

  thread_t *threads = calloc((size_t)opt.threads, sizeof *threads);
  unsigned ring = 1;
  while (ring < (unsigned)(opt.depth > PRELOAD_DEPTH ? opt.depth : PRELOAD_DEPTH)) ring <<= 1;
  for (int i = 0; i < opt.threads; i++) {
    thread_t *t = &threads[i];
    t->id = i;
    t->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) ^ (uint64_t)now_ns();
    if (!t->rng) t->rng = 1;
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    t->conns = calloc((size_t)opt.conns / (size_t)opt.threads + 1, sizeof *t->conns);
    // this thread's share of the keys to preload
    t->preload_next = (uint32_t)(opt.keys * i / opt.threads);
    t->preload_end = (uint32_t)(opt.keys * (i + 1) / opt.threads);
  }
  for (int i = 0; i < opt.conns; i++) {
    thread_t *t = &threads[i % opt.threads];
    conn_t *c = calloc(1, sizeof *c);
    c->t = t;
    c->fd = dial(ai);
    if (c->fd < 0) {
      fprintf(stderr, "mcblast: cannot connect to %s:%s: %s\n", opt.host, opt.port, strerror(errno));
      return 2;
    }
    c->mask = ring - 1;
    c->slots = calloc(ring, sizeof *c->slots);
    c->keys = calloc((size_t)ring * (size_t)opt.keys_per_get, sizeof *c->keys);
    c->must_hit = calloc((size_t)ring * (size_t)opt.keys_per_get, 1);
    c->rcap = 65536;
    c->rbuf = malloc(c->rcap);
    c->wcap = 65536;
    c->wbuf = malloc(c->wcap);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->fd, &ev);
    t->conns[t->nconns++] = c;
    t->alive++;
  }
  freeaddrinfo(ai);

  pthread_barrier_init(&preloaded, NULL, (unsigned)opt.threads);
  pthread_barrier_init(&started, NULL, (unsigned)opt.threads);
  preload_start_ns = now_ns();
  for (int i = 0; i < opt.threads; i++) pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]);
  for (int i = 0; i < opt.threads; i++) pthread_join(threads[i].tid, NULL);
  uint64_t end_ns = now_ns();

  static uint64_t hist[BUCKETS];
  uint64_t max_ns = 0, sum_ns = 0;
  long ops = 0, hits = 0, misses = 0, errors = 0;
  for (int i = 0; i < opt.threads; i++) {
    thread_t *t = &threads[i];
    for (int b = 0; b < BUCKETS; b++) hist[b] += t->hist[b];
    if (t->max_ns > max_ns) max_ns = t->max_ns;
    sum_ns += t->sum_ns;
    ops += t->ops, hits += t->hits, misses += t->misses, errors += t->errors;
  }
  double secs = opt.duration > 0 ? (double)(end_ns - start_ns) / 1e9 : 0;
  printf("ops_per_sec=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f mean_us=%.0f ops=%ld hits=%ld misses=%ld errors=%ld seconds=%.3f "
         "preload_seconds=%.3f conns=%d depth=%d threads=%d proto=%s keys_per_get=%d value_size=%d keys=%ld set_ratio=%g\n",
         secs > 0 ? (double)ops / secs : 0, percentile_us(hist, (uint64_t)ops, 0.5), percentile_us(hist, (uint64_t)ops, 0.99),
         percentile_us(hist, (uint64_t)ops, 0.999), (double)max_ns / 1000, ops ? (double)sum_ns / 1000 / (double)ops : 0, ops, hits, misses, errors, secs,
         opt.preload ? (double)(start_ns - preload_start_ns) / 1e9 : 0, opt.conns, opt.depth, opt.threads, opt.binary ? "binary" : "text",
         opt.keys_per_get, opt.value_size, opt.keys, opt.set_ratio);
  return errors ? 1 : 0;
}
