/* crypto_internal.h: internal to src/crypto (it names OpenSSL types, which nothing outside
 * src/crypto sees). The RSA key policy, shared by the libp2p key verifier (crypto_openssl.c) and
 * the TLS certificate checks (tlscert.c), so a Noise handshake and a QUIC handshake refuse the
 * same keys. */
#ifndef RLY_CRYPTO_CRYPTO_INTERNAL_H
#define RLY_CRYPTO_CRYPTO_INTERNAL_H

#include <openssl/evp.h>

#include "core/err.h"

/* rly_rsa_check_key applies the RSA key policy of go and rust to |pk| (borrowed; an RSA or
 * RSA-PSS key): a modulus of RLY_RSA_MIN_BITS..RLY_RSA_MAX_BITS and an odd public exponent of
 * 3..RLY_RSA_MAX_EXPONENT. Returns 0, RLY_ERR_UNSUPPORTED (modulus size or exponent out of range)
 * or RLY_ERR_MALFORMED (no exponent, or an even one, or 1). */
RLY_NODISCARD int rly_rsa_check_key(const EVP_PKEY *pk);

#endif
