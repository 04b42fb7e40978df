/*
 * dl.h - the functions of libcurl, libcrypto, libpq, json-c and libkeyutils that
 * libscauth uses, as
 * tables filled by dlopen()/dlsym() on first use (dl.c).  The prototypes come
 * from the libraries' own headers, so a mismatch is a compile error.
 */
#ifndef SCAUTH_DL_H
#define SCAUTH_DL_H

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <libpq-fe.h>
#include <json.h>
#include <keyutils.h>

struct curl_fns {
	__typeof__(curl_global_init) *global_init;
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
	__typeof__(OPENSSL_init_crypto) *init;
	__typeof__(EVP_Digest) *digest;
	__typeof__(EVP_sha256) *sha256;
	/* AES-256-GCM for sealed records (seal.c). */
	__typeof__(EVP_aes_256_gcm) *aes_256_gcm;
	__typeof__(EVP_CIPHER_CTX_new) *cipher_new;
	__typeof__(EVP_CIPHER_CTX_free) *cipher_free;
	__typeof__(EVP_CIPHER_CTX_ctrl) *cipher_ctrl;
	__typeof__(EVP_EncryptInit_ex) *encrypt_init;
	__typeof__(EVP_EncryptUpdate) *encrypt_update;
	__typeof__(EVP_EncryptFinal_ex) *encrypt_final;
	__typeof__(EVP_DecryptInit_ex) *decrypt_init;
	__typeof__(EVP_DecryptUpdate) *decrypt_update;
	__typeof__(EVP_DecryptFinal_ex) *decrypt_final;
};

/* libpq, for store = postgres (pg.c). */
struct pq_fns {
	__typeof__(PQconnectdbParams) *connectdb_params;
	__typeof__(PQpingParams) *ping_params;
	__typeof__(PQstatus) *status;
	__typeof__(PQerrorMessage) *error_message;
	__typeof__(PQfinish) *finish;
	__typeof__(PQexec) *exec;
	__typeof__(PQexecParams) *exec_params;
	__typeof__(PQresultStatus) *result_status;
	__typeof__(PQresultErrorField) *result_error_field;
	__typeof__(PQresultErrorMessage) *result_error_message;
	__typeof__(PQclear) *clear;
	__typeof__(PQntuples) *ntuples;
	__typeof__(PQgetvalue) *getvalue;
	__typeof__(PQgetlength) *getlength;
	__typeof__(PQgetisnull) *getisnull;
	__typeof__(PQtransactionStatus) *transaction_status;
	__typeof__(PQconninfoParse) *conninfo_parse;
	__typeof__(PQconninfoFree) *conninfo_free;
	__typeof__(PQconnectionNeedsPassword) *needs_password;
	__typeof__(PQfreemem) *freemem;
	__typeof__(PQsetNoticeProcessor) *set_notice_processor;
	__typeof__(PQsendQueryParams) *send_query_params;
	__typeof__(PQsocket) *socket;
	__typeof__(PQconsumeInput) *consume_input;
	__typeof__(PQisBusy) *is_busy;
	__typeof__(PQgetResult) *get_result;
	__typeof__(PQhost) *host;
	__typeof__(PQport) *port;
	__typeof__(PQdb) *db;
	__typeof__(PQnotifies) *notifies;
};

/* json-c, for the server's answers (json.c). */
struct json_fns {
	__typeof__(json_object_array_get_idx) *object_array_get_idx;
	__typeof__(json_object_array_length) *object_array_length;
	__typeof__(json_object_get_int64) *object_get_int64;
	__typeof__(json_object_get_object) *object_get_object;
	__typeof__(json_object_get_string) *object_get_string;
	__typeof__(json_object_get_string_len) *object_get_string_len;
	__typeof__(json_object_get_type) *object_get_type;
	__typeof__(json_object_object_get_ex) *object_object_get_ex;
	__typeof__(json_object_put) *object_put;
	__typeof__(json_tokener_error_desc) *tokener_error_desc;
	__typeof__(json_tokener_free) *tokener_free;
	__typeof__(json_tokener_get_error) *tokener_get_error;
	__typeof__(json_tokener_new_ex) *tokener_new_ex;
	__typeof__(json_tokener_parse_ex) *tokener_parse_ex;
	__typeof__(json_tokener_reset) *tokener_reset;
	__typeof__(json_tokener_set_flags) *tokener_set_flags;
};

/* libkeyutils, for store = keyring (store_keyring.c). */
struct keyutils_fns {
	__typeof__(add_key) *add_key;
	__typeof__(keyctl_describe_alloc) *describe_alloc;
	__typeof__(keyctl_invalidate) *invalidate;
	__typeof__(keyctl_read_alloc) *read_alloc;
	__typeof__(keyctl_search) *search;
	__typeof__(keyctl_setperm) *setperm;
	__typeof__(keyctl_unlink) *unlink;
	__typeof__(keyctl_update) *update;
};

/*
 * The process's json-c, loaded on first use (no context: json.c's callers
 * pass none; json-c reads no environment).  SCAUTH_ENOLIB when it cannot be.
 */
HIDDEN int dl_json(const struct json_fns **out);
HIDDEN int dl_keyutils(scauth_ctx *ctx, const struct keyutils_fns **out);

#endif /* SCAUTH_DL_H */
