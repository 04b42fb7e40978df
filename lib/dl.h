/*
 * dl.h - the functions of libcurl and libcrypto that libscauth uses, as
 * tables filled by dlopen()/dlsym() on first use (dl.c).  The prototypes come
 * from the libraries' own headers, so a mismatch is a compile error.
 */
#ifndef SCAUTH_DL_H
#define SCAUTH_DL_H

#include <curl/curl.h>
#include <openssl/evp.h>

struct curl_fns {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_global_cleanup) *global_cleanup;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_reset) *easy_reset;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_version_info) *version_info;
};

struct crypto_fns {
	__typeof__(EVP_Digest) *digest;
	__typeof__(EVP_sha256) *sha256;
};

#endif /* SCAUTH_DL_H */
