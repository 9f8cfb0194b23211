/* The agents of the soak benchmark (bench/soak.sh), one static binary without Python or
 * the SDK, talking HTTP/1.1 to the membrane socket by hand (docs/PROTOCOL.md). The first
 * argument picks what it does:
 *
 *   complete            one `POST /v1/complete` (done), then exit 0
 *   escalate TARGET     one `POST /v1/escalate` to TARGET (an agent or a human pool)
 *   hostile END         tries what a cell must not do, then ends: END `done` records the
 *                       outcome with `POST /v1/complete` (status `failed` when anything
 *                       forbidden got through, else `done`); END `crash` exits 3 without
 *                       an outcome. The attempts: a refund over the key's limit (must be
 *                       403), reading /etc/shadow, an AF_INET socket and a TCP connect to
 *                       127.0.0.1:80 (seccomp, Landlock and no network), and a fork bomb
 *                       that forks until the pids limit says no (EAGAIN); the children
 *                       sleep 0.2 s and exit, the parent reaps them all.
 *   flood SECONDS PROCS hammers the membrane with `GET /v1/task` on keep-alive connections
 *                       from PROCS processes for SECONDS (or until killed), as fast as it
 *                       can: the rate and concurrency limits answer most of it with 429 /
 *                       503. Then `POST /v1/complete` with the counts.
 *
 * Build: gcc -O2 -static -o soak-agent bench/soak-agent.c
 * Exit: 0 when the membrane accepted the outcome, 2..5 when a step failed (which one), 3
 * for `hostile crash`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path, *base_key, *task_key;

static int dial(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, sock_path, sizeof addr.sun_path - 1);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* One request on `fd` (kept alive); returns the status code, 0 when the connection
 * broke. The body of the answer is read and dropped. */
static int request(int fd, const char *method, const char *path, const char *body) {
  static char req[16384], resp[65536];
  size_t blen = body ? strlen(body) : 0;
  int n = snprintf(req, sizeof req,
                   "%s %s HTTP/1.1\r\nhost: silo\r\n"
                   "x-silo-base-key: %s\r\nx-silo-task-key: %s\r\n"
                   "content-type: application/json\r\ncontent-length: %zu\r\n\r\n%s",
                   method, path, base_key, task_key, blen, body ? body : "");
  if (n <= 0 || n >= (int)sizeof req) return 0;
  for (int off = 0; off < n;) {
    ssize_t w = write(fd, req + off, (size_t)(n - off));
    if (w <= 0) return 0;
    off += (int)w;
  }
  size_t got = 0;
  char *end = NULL;
  while (!end) {
    if (got >= sizeof resp - 1) return 0;
    ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
    if (r <= 0) return 0;
    got += (size_t)r;
    resp[got] = 0;
    end = strstr(resp, "\r\n\r\n");
  }
  int status = 0;
  if (sscanf(resp, "HTTP/1.1 %d", &status) != 1) return 0;
  size_t clen = 0;
  for (char *p = resp; p < end; p++) {
    if ((p == resp || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
      clen = (size_t)strtoul(p + 15, NULL, 10);
      break;
    }
  }
  size_t have = got - (size_t)(end + 4 - resp);
  while (have < clen) {
    ssize_t r = read(fd, resp, sizeof resp < clen - have ? sizeof resp : clen - have);
    if (r <= 0) return 0;
    have += (size_t)r;
  }
  return status;
}

/* One request on a fresh connection. */
static int once(const char *method, const char *path, const char *body) {
  int fd = dial();
  if (fd < 0) return 0;
  int status = request(fd, method, path, body);
  close(fd);
  return status;
}

static int complete(const char *status, const char *summary) {
  char body[2048];
  snprintf(body, sizeof body, "{\"status\":\"%s\",\"summary\":\"%s\"}", status, summary);
  return once("POST", "/v1/complete", body) == 200 ? 0 : 5;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int hostile(const char *end) {
  char summary[1024];
  int escaped = 0;
  /* 1. a refund over the base key's limit (the key allows 5000 cents) */
  int refund = once("POST", "/v1/refund",
                    "{\"amount_cents\":999900,\"currency\":\"USD\",\"reason\":\"soak\","
                    "\"idempotency_key\":\"soak-hostile\"}");
  if (refund == 200) escaped++;
  /* 2. /etc/shadow */
  int shadow = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
  int shadow_errno = shadow < 0 ? errno : 0;
  if (shadow >= 0) {
    escaped++;
    close(shadow);
  }
  /* 3. the network: an AF_INET socket, and a connect if that was allowed */
  int inet = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int inet_errno = inet < 0 ? errno : 0, connect_errno = -1;
  if (inet >= 0) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect_errno = connect(inet, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    if (connect_errno == 0) escaped++;
    close(inet);
  }
  /* 4. a fork bomb, bounded by the cell's pids limit */
  int forks = 0, fork_errno = 0;
  for (int i = 0; i < 100000; i++) {
    pid_t p = fork();
    if (p == 0) {
      usleep(200000);
      _exit(0);
    }
    if (p < 0) {
      fork_errno = errno;
      break;
    }
    forks++;
  }
  if (fork_errno == 0) escaped++; /* 100,000 processes: no limit */
  while (wait(NULL) > 0 || errno == EINTR) {
  }
  snprintf(summary, sizeof summary,
           "refund over limit -> %d; /etc/shadow -> errno %d; AF_INET socket -> errno %d, "
           "connect -> %d; fork bomb: %d forks then errno %d; %d got through",
           refund, shadow_errno, inet_errno, connect_errno, forks, fork_errno, escaped);
  fprintf(stderr, "soak-agent hostile: %s\n", summary);
  if (strcmp(end, "crash") == 0) return 3;
  return complete(escaped ? "failed" : "done", summary);
}

static int flood(double seconds, int procs) {
  if (procs < 1) procs = 1;
  if (procs > 16) procs = 16;
  double stop = now_s() + seconds;
  int pipes[16][2];
  for (int i = 0; i < procs; i++) {
    if (pipe(pipes[i]) != 0) return 2;
    pid_t p = fork();
    if (p < 0) return 2;
    if (p > 0) {
      close(pipes[i][1]);
      continue;
    }
    close(pipes[i][0]);
    long counts[4] = {0, 0, 0, 0}; /* 200, 429, 503, other */
    int fd = -1;
    while (now_s() < stop) {
      if (fd < 0 && (fd = dial()) < 0) {
        counts[3]++;
        usleep(1000);
        continue;
      }
      int s = request(fd, "GET", "/v1/task", NULL);
      counts[s == 200 ? 0 : s == 429 ? 1 : s == 503 ? 2 : 3]++;
      if (s == 0) {
        close(fd);
        fd = -1;
      }
    }
    if (write(pipes[i][1], counts, sizeof counts) != (ssize_t)sizeof counts) _exit(2);
    _exit(0);
  }
  long total[4] = {0, 0, 0, 0};
  for (int i = 0; i < procs; i++) {
    long c[4];
    if (read(pipes[i][0], c, sizeof c) == (ssize_t)sizeof c)
      for (int k = 0; k < 4; k++) total[k] += c[k];
  }
  while (wait(NULL) > 0 || errno == EINTR) {
  }
  char summary[256];
  snprintf(summary, sizeof summary, "flood: %ld ok, %ld rate_limited, %ld busy, %ld other",
           total[0], total[1], total[2], total[3]);
  fprintf(stderr, "soak-agent %s\n", summary);
  return complete("done", summary);
}

int main(int argc, char **argv) {
  sock_path = getenv("SILO_SOCKET");
  base_key = getenv("SILO_BASE_KEY");
  task_key = getenv("SILO_TASK_KEY");
  if (!sock_path || !base_key || !task_key || argc < 2) return 2;
  signal(SIGPIPE, SIG_IGN);
  if (strcmp(argv[1], "complete") == 0) return complete("done", "soak");
  if (strcmp(argv[1], "escalate") == 0 && argc > 2) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"target\":\"%s\",\"reason\":\"soak\",\"recommendation\":\"finish it\"}",
             argv[2]);
    return once("POST", "/v1/escalate", body) == 200 ? 0 : 5;
  }
  if (strcmp(argv[1], "hostile") == 0) return hostile(argc > 2 ? argv[2] : "done");
  if (strcmp(argv[1], "flood") == 0 && argc > 3) return flood(atof(argv[2]), atoi(argv[3]));
  return 2;
}
