// The network calls of runner-metrics-github, behind a small C API so that Swift sees neither
// OpenSSL's headers nor the socket macros: name resolution (before the seccomp filter), a
// non-blocking TCP connect, and a TLS 1.2+ client over the connected socket that reports
// want-read / want-write, so the caller polls with its own deadline and a slow peer can never
// block it.
//
// OpenSSL is initialised without its configuration file (OPENSSL_INIT_NO_LOAD_CONFIG) and its
// random generator is seeded before the filter goes on; the CA certificates come from PEM
// bytes in memory. After `rm_tls_global_init` and `rm_tls_context_new`, nothing here opens a
// file: the process's seccomp filter has no open of any kind.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// One resolved address (a copy of a struct sockaddr_in or sockaddr_in6).
struct rm_address {
    unsigned char bytes[28];
    unsigned int length;
    int family;
    /// 1 if the address is 127.0.0.0/8 or ::1.
    int loopback;
};

/// getaddrinfo(host, port, AF_UNSPEC, SOCK_STREAM): up to `max` addresses into `out`. Returns
/// how many, or -1 (nothing resolved). `numeric_only`: AI_NUMERICHOST (no resolver at all).
int rm_resolve(const char *host, unsigned short port, int numeric_only, struct rm_address *out, int max);
/// socket(family, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0) and connect: the descriptor
/// (connected or with the connect in progress), or -1 with errno.
int rm_connect_start(const struct rm_address *address);
/// getsockopt(SO_ERROR) once the socket is writable: 0 when connected, else the error.
int rm_connect_result(int fd);

typedef struct rm_tls_context rm_tls_context;
typedef struct rm_tls rm_tls;

/// OPENSSL_init_ssl without the configuration file, then seeds and checks the random
/// generator (getrandom), and loads glibc's time zone (which the first gmtime_r of a
/// certificate check would otherwise open /etc/localtime for). 0 on success.
int rm_tls_global_init(void);
/// A client context: TLS 1.2 at least, peer verification required, trusting exactly the
/// certificates in `pem` (`length` bytes, one or more PEM CERTIFICATE blocks). Sets
/// *loaded to how many were read. NULL on failure or when none was.
rm_tls_context *rm_tls_context_new(const void *pem, size_t length, int *loaded);
void rm_tls_context_free(rm_tls_context *context);

/// A TLS client on connected socket `fd` for `host`: SNI (unless `host` is an IP literal) and
/// verification of the certificate's name or IP address against `host`. NULL on failure.
rm_tls *rm_tls_new(rm_tls_context *context, int fd, const char *host);
/// Frees the connection (no close_notify is sent; the caller closes the socket).
void rm_tls_free(rm_tls *tls);

/// What a TLS call returns when it did not complete.
enum {
    RM_TLS_WANT_READ = -1,
    RM_TLS_WANT_WRITE = -2,
    /// A protocol, verification or socket error: the connection is unusable.
    RM_TLS_FAILED = -3,
};
/// SSL_connect: 0 once the handshake is done (certificate and name verified), or one of the
/// values above.
int rm_tls_handshake(rm_tls *tls);
/// SSL_read: bytes read (> 0), 0 when the peer closed the connection (with or without
/// close_notify: the caller's framing never depends on it), or one of the values above.
ssize_t rm_tls_read(rm_tls *tls, void *buffer, size_t count);
/// SSL_write: bytes written (> 0) or one of the values above.
ssize_t rm_tls_write(rm_tls *tls, const void *buffer, size_t count);
/// The certificate verification result (X509_V_OK is 0), for diagnostics.
long rm_tls_verify_result(rm_tls *tls);
