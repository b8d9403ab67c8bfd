// OpenSSL 3 (Debian's libssl-dev), found with pkg-config "openssl", for the link. Only CTLSShim's C code
// uses it; Swift sees the small API in CTLSShim/include/tls_shim.h instead.
#pragma once
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
