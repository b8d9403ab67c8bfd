#define _GNU_SOURCE
#include "tls_shim.h"
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct rm_tls_context { SSL_CTX *ctx; };
struct rm_tls { SSL *ssl; };

static int is_loopback(const struct sockaddr *address) {
    if (address->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)address;
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    if (address->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)address;
        return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    }
    return 0;
}

int rm_resolve(const char *host, unsigned short port, int numeric_only, struct rm_address *out, int max) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : 0);
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo *list = NULL;
    if (getaddrinfo(host, service, &hints, &list) != 0) return -1;
    int count = 0;
    for (struct addrinfo *entry = list; entry && count < max; entry = entry->ai_next) {
        if ((entry->ai_family != AF_INET && entry->ai_family != AF_INET6) || entry->ai_addrlen > sizeof out->bytes) continue;
        memset(&out[count], 0, sizeof out[count]);
        memcpy(out[count].bytes, entry->ai_addr, entry->ai_addrlen);
        out[count].length = (unsigned)entry->ai_addrlen;
        out[count].family = entry->ai_family;
        out[count].loopback = is_loopback(entry->ai_addr);
        count++;
    }
    freeaddrinfo(list);
    return count > 0 ? count : -1;
}

int rm_connect_start(const struct rm_address *address) {
    int fd = socket(address->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int status;
    do { status = connect(fd, (const struct sockaddr *)address->bytes, address->length); } while (status < 0 && errno == EINTR);
    if (status == 0 || errno == EINPROGRESS) return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int rm_connect_result(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
}


int rm_tls_global_init(void) {
    if (OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL) != 1)
        return -1;
    unsigned char seed[32];
    if (RAND_bytes(seed, sizeof seed) != 1 || RAND_status() != 1) return -1;
    OPENSSL_cleanse(seed, sizeof seed);
    // Certificate time checks call gmtime_r, whose first call makes glibc load the time zone
    // (/etc/localtime): load it now, while the process may still open a file.
    tzset();
    time_t now = time(NULL);
    struct tm broken;
    if (gmtime_r(&now, &broken) == NULL) return -1;
    return 0;
}

rm_tls_context *rm_tls_context_new(const void *pem, size_t length, int *loaded) {
    *loaded = 0;
    if (length == 0 || length > 64 * 1024 * 1024) return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    // An EOF without close_notify reads as 0 (the HTTP framing is by length, never by EOF).
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (!bio) { SSL_CTX_free(ctx); return NULL; }
    X509 *certificate;
    while ((certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, certificate) == 1) (*loaded)++;
        X509_free(certificate);
    }
    BIO_free(bio);
    // The loop ends on "no start line"; nothing of it may be reported later as a TLS error.
    ERR_clear_error();
    if (*loaded == 0) { SSL_CTX_free(ctx); return NULL; }
    rm_tls_context *context = OPENSSL_zalloc(sizeof *context);
    if (!context) { SSL_CTX_free(ctx); return NULL; }
    context->ctx = ctx;
    return context;
}

void rm_tls_context_free(rm_tls_context *context) {
    if (!context) return;
    SSL_CTX_free(context->ctx);
    OPENSSL_free(context);
}

rm_tls *rm_tls_new(rm_tls_context *context, int fd, const char *host) {
    SSL *ssl = SSL_new(context->ctx);
    if (!ssl) return NULL;
    unsigned char literal[16];
    int ip = inet_pton(AF_INET, host, literal) == 1 || inet_pton(AF_INET6, host, literal) == 1;
    int ok = SSL_set_fd(ssl, fd) == 1;
    if (ok && ip) {
        // An IP literal is matched against the certificate's IP address entries; no SNI
        // (RFC 6066 allows only host names there).
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
    } else if (ok) {
        ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    }
    if (ok) {
        // A wildcard may stand for one whole label only.
        X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    rm_tls *tls = ok ? OPENSSL_zalloc(sizeof *tls) : NULL;
    if (!tls) { SSL_free(ssl); return NULL; }
    tls->ssl = ssl;
    return tls;
}

void rm_tls_free(rm_tls *tls) {
    if (!tls) return;
    SSL_free(tls->ssl);
    OPENSSL_free(tls);
}

static int classify(SSL *ssl, int result) {
    switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ: return RM_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return RM_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default:
        ERR_clear_error();
        return RM_TLS_FAILED;
    }
}

int rm_tls_handshake(rm_tls *tls) {
    int result = SSL_connect(tls->ssl);
    if (result == 1) return 0;
    int kind = classify(tls->ssl, result);
    return kind == 0 ? RM_TLS_FAILED : kind;
}

ssize_t rm_tls_read(rm_tls *tls, void *buffer, size_t count) {
    size_t done = 0;
    int result = SSL_read_ex(tls->ssl, buffer, count, &done);
    if (result == 1) return (ssize_t)done;
    int kind = classify(tls->ssl, 0);
    // An EOF without close_notify (SSL_OP_IGNORE_UNEXPECTED_EOF) is reported as ZERO_RETURN.
    return kind;
}

ssize_t rm_tls_write(rm_tls *tls, const void *buffer, size_t count) {
    size_t done = 0;
    int result = SSL_write_ex(tls->ssl, buffer, count, &done);
    if (result == 1) return (ssize_t)done;
    int kind = classify(tls->ssl, 0);
    return kind == 0 ? RM_TLS_FAILED : kind;
}

long rm_tls_verify_result(rm_tls *tls) { return SSL_get_verify_result(tls->ssl); }
