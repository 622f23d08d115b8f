/*
 * A UDP socket bound with SO_REUSEADDR + SO_REUSEPORT, for dgram to adopt
 * (socket.bind({ fd })). Node 20's dgram has no reusePort option; with it
 * every worker binds its own socket on the shared port and the kernel keeps
 * each source 4-tuple on one socket.
 *   bindReusePort(address: string, port: number): number   // the fd
 * Throws an Error naming the failing call and errno's text.
 */
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static napi_value fail(napi_env env, const char *what, int err) {
  char text[160];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_throw_error(env, "SBC_ERR_REUSEPORT", text);
  return NULL;
}

static napi_value bind_reuse_port(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char address[64];
  size_t len = 0;
  uint32_t port = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], address, sizeof address, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &port) != napi_ok || port > 65535) {
    napi_throw_type_error(env, NULL, "bindReusePort(address: string, port: number)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sslen;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    sslen = sizeof *v4;
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    sslen = sizeof *v6;
  } else {
    napi_throw_type_error(env, NULL, "bindReusePort: address must be an IPv4 or IPv6 address");
    return NULL;
  }
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, "socket", errno);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    return fail(env, "setsockopt SO_REUSEPORT", err);
  }
  if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
    int err = errno;
    close(fd);
    return fail(env, "bind", err);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "bindReusePort", NAPI_AUTO_LENGTH, bind_reuse_port, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "bindReusePort", fn) != napi_ok) return NULL;
  return exports;
}
