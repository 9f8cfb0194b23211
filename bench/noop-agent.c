/* A no-op agent without Python or the SDK, for bench/router-throughput.sh: one
 * `POST /v1/complete` over the membrane socket (docs/PROTOCOL.md), by hand, then exit.
 * It shows what a turn costs when the agent itself costs next to nothing.
 *
 * Build: gcc -O2 -static -o noop bench/noop-agent.c
 * Exit: 0 when the membrane answered 200, else 2..5 (which step failed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(void) {
  const char *path = getenv("SILO_SOCKET");
  const char *base = getenv("SILO_BASE_KEY");
  const char *task = getenv("SILO_TASK_KEY");
  if (!path || !base || !task) return 2;
  static const char body[] = "{\"status\":\"done\",\"summary\":\"noop\"}";
  static char req[16384];
  int n = snprintf(req, sizeof req,
                   "POST /v1/complete HTTP/1.1\r\nhost: silo\r\n"
                   "x-silo-base-key: %s\r\nx-silo-task-key: %s\r\n"
                   "content-type: application/json\r\ncontent-length: %zu\r\n"
                   "connection: close\r\n\r\n%s",
                   base, task, strlen(body), body);
  if (n <= 0 || n >= (int)sizeof req) return 2;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 3;
  for (int off = 0; off < n;) {
    ssize_t w = write(fd, req + off, (size_t)(n - off));
    if (w <= 0) return 4;
    off += (int)w;
  }
  char resp[64];
  ssize_t got = 0, r;
  while (got < 12 && (r = read(fd, resp + got, sizeof resp - 1 - (size_t)got)) > 0) got += r;
  resp[got] = 0;
  return strncmp(resp, "HTTP/1.1 200", 12) == 0 ? 0 : 5;
}
