/*
 * secret_service.c - items of ours in the desktop's Secret Service (GNOME
 * Keyring, KWallet, KeePassXC), through libsecret loaded on first use.
 *
 * libsecret drags in GLib, GObject and GIO: linked in, every start of the
 * helper would pay for them, so they are mapped only when store =
 * secret-service needs them (dl.c's rules: one handle per context, opened
 * RTLD_NODELETE).  One item per profile and grant, under a schema of our
 * own ("org.soundcloud-auth.Grant", attributes profile and grant), holds the
 * whole record; `secret-tool search profile NAME` finds it.
 *
 * Items are searched for by profile and grant alone, and the schema's name
 * is checked on the unlocked ones here: gnome-keyring started over its file
 * without the password (an automatic desktop login) knows a locked item
 * only by its hashed attributes, and a search that names the schema misses
 * it, so that a locked grant would read as none.  A locked item with our
 * attributes counts as ours until it is unlocked.  A grant is rewritten in
 * place, in whichever keyring holds it; only a new one goes to the default
 * keyring, and never while a locked one may hold it.
 *
 * No call may hang: each runs asynchronously in a main context of ours and
 * is cancelled when ctx->timeout passes.  A locked item or collection is
 * never unlocked behind the caller's back when no one can answer a prompt
 * (no display): that is a quick SCAUTH_ESTORE ("the keyring is locked"),
 * which leaves everything as it was.  With a display, libsecret's own unlock
 * prompt is shown, bounded by PROMPT_SEC.
 */
#include "internal.h"
#include "store.h"

#include <dlfcn.h>
#include <libsecret/secret.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROMPT_SEC      120     /* for a person to type the keyring password */
#define SCHEMA_NAME     "org.soundcloud-auth.Grant"

struct secret_fns {
	__typeof__(g_main_context_new) *main_context_new;
	__typeof__(g_main_context_unref) *main_context_unref;
	__typeof__(g_main_context_push_thread_default) *push_thread_default;
	__typeof__(g_main_context_pop_thread_default) *pop_thread_default;
	__typeof__(g_main_context_iteration) *iteration;
	__typeof__(g_timeout_source_new) *timeout_source_new;
	__typeof__(g_source_set_callback) *source_set_callback;
	__typeof__(g_source_attach) *source_attach;
	__typeof__(g_source_destroy) *source_destroy;
	__typeof__(g_source_unref) *source_unref;
	__typeof__(g_cancellable_new) *cancellable_new;
	__typeof__(g_cancellable_cancel) *cancellable_cancel;
	__typeof__(g_object_ref) *object_ref;
	__typeof__(g_object_unref) *object_unref;
	__typeof__(g_error_free) *error_free;
	__typeof__(g_free) *mem_free;
	__typeof__(g_io_error_quark) *io_error_quark;
	__typeof__(g_hash_table_new) *hash_table_new;
	__typeof__(g_hash_table_insert) *hash_table_insert;
	__typeof__(g_hash_table_unref) *hash_table_unref;
	__typeof__(g_str_hash) *str_hash;
	__typeof__(g_str_equal) *str_equal;
	__typeof__(g_list_free) *list_free;
	__typeof__(g_list_prepend) *list_prepend;
	__typeof__(secret_service_get) *service_get;
	__typeof__(secret_service_get_finish) *service_get_finish;
	__typeof__(secret_service_search) *search;
	__typeof__(secret_service_search_finish) *search_finish;
	__typeof__(secret_service_store) *store;
	__typeof__(secret_service_store_finish) *store_finish;
	__typeof__(secret_service_unlock) *unlock;
	__typeof__(secret_service_unlock_finish) *unlock_finish;
	__typeof__(secret_collection_for_alias) *collection_for_alias;
	__typeof__(secret_collection_for_alias_finish) *collection_for_alias_finish;
	__typeof__(secret_collection_get_locked) *collection_get_locked;
	__typeof__(secret_item_get_locked) *item_get_locked;
	__typeof__(secret_item_get_schema_name) *item_get_schema_name;
	__typeof__(g_dbus_proxy_get_object_path) *proxy_get_object_path;
	__typeof__(secret_item_get_secret) *item_get_secret;
	__typeof__(secret_item_delete) *item_delete;
	__typeof__(secret_item_delete_finish) *item_delete_finish;
	__typeof__(secret_value_new_full) *value_new_full;
	__typeof__(secret_value_get) *value_get;
	__typeof__(secret_value_unref) *value_unref;
};

#define SS_SYM(f, n) { n, offsetof(struct secret_fns, f) }
static const struct dl_sym secret_syms[] = {
	SS_SYM(main_context_new, "g_main_context_new"),
	SS_SYM(main_context_unref, "g_main_context_unref"),
	SS_SYM(push_thread_default, "g_main_context_push_thread_default"),
	SS_SYM(pop_thread_default, "g_main_context_pop_thread_default"),
	SS_SYM(iteration, "g_main_context_iteration"),
	SS_SYM(timeout_source_new, "g_timeout_source_new"),
	SS_SYM(source_set_callback, "g_source_set_callback"),
	SS_SYM(source_attach, "g_source_attach"),
	SS_SYM(source_destroy, "g_source_destroy"),
	SS_SYM(source_unref, "g_source_unref"),
	SS_SYM(cancellable_new, "g_cancellable_new"),
	SS_SYM(cancellable_cancel, "g_cancellable_cancel"),
	SS_SYM(object_ref, "g_object_ref"),
	SS_SYM(object_unref, "g_object_unref"),
	SS_SYM(error_free, "g_error_free"),
	SS_SYM(mem_free, "g_free"),
	SS_SYM(io_error_quark, "g_io_error_quark"),
	SS_SYM(hash_table_new, "g_hash_table_new"),
	SS_SYM(hash_table_insert, "g_hash_table_insert"),
	SS_SYM(hash_table_unref, "g_hash_table_unref"),
	SS_SYM(str_hash, "g_str_hash"),
	SS_SYM(str_equal, "g_str_equal"),
	SS_SYM(list_free, "g_list_free"),
	SS_SYM(list_prepend, "g_list_prepend"),
	SS_SYM(service_get, "secret_service_get"),
	SS_SYM(service_get_finish, "secret_service_get_finish"),
	SS_SYM(search, "secret_service_search"),
	SS_SYM(search_finish, "secret_service_search_finish"),
	SS_SYM(store, "secret_service_store"),
	SS_SYM(store_finish, "secret_service_store_finish"),
	SS_SYM(unlock, "secret_service_unlock"),
	SS_SYM(unlock_finish, "secret_service_unlock_finish"),
	SS_SYM(collection_for_alias, "secret_collection_for_alias"),
	SS_SYM(collection_for_alias_finish, "secret_collection_for_alias_finish"),
	SS_SYM(collection_get_locked, "secret_collection_get_locked"),
	SS_SYM(item_get_locked, "secret_item_get_locked"),
	SS_SYM(item_get_schema_name, "secret_item_get_schema_name"),
	SS_SYM(proxy_get_object_path, "g_dbus_proxy_get_object_path"),
	SS_SYM(item_get_secret, "secret_item_get_secret"),
	SS_SYM(item_delete, "secret_item_delete"),
	SS_SYM(item_delete_finish, "secret_item_delete_finish"),
	SS_SYM(value_new_full, "secret_value_new_full"),
	SS_SYM(value_get, "secret_value_get"),
	SS_SYM(value_unref, "secret_value_unref"),
};

/* Our part of a context (ctx->mod[MOD_SS]): the library, our main context, the service proxy. */
struct ss_state {
	void *handle;
	struct secret_fns fn;
	GMainContext *mctx;
	SecretService *service;
};

static const SecretSchema schema = {
	SCHEMA_NAME, SECRET_SCHEMA_NONE,
	{
		{ "profile", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "grant", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

/* For searches: without "xdg:schema", which a keyring locked at boot cannot match. */
static const SecretSchema search_schema = {
	SCHEMA_NAME, SECRET_SCHEMA_DONT_MATCH_NAME,
	{
		{ "profile", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "grant", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

/* ------------------------------------------------------------------------ */
/* One call at a time, in our main context, bounded in time. */

struct call {
	struct ss_state *ss;
	GAsyncResult *res;
	GCancellable *cancel;
	GSource *timer;
	int timed_out;
};

static void
call_done(GObject *src, GAsyncResult *res, gpointer data)
{
	struct call *c = data;

	c->res = c->ss->fn.object_ref(res);
}

static gboolean
call_expired(gpointer data)
{
	struct call *c = data;

	c->timed_out = 1;
	c->ss->fn.cancellable_cancel(c->cancel);
	return G_SOURCE_REMOVE;
}

/* Starts the clock of a call; its operation is then started with c->cancel and call_done. */
static int
call_begin(struct ss_state *ss, struct call *c, long sec)
{
	memset(c, 0, sizeof(*c));
	c->ss = ss;
	if ((c->cancel = ss->fn.cancellable_new()) == NULL ||
	    (c->timer = ss->fn.timeout_source_new((guint)(sec * 1000))) == NULL)
		return SCAUTH_ENOMEM;
	ss->fn.source_set_callback(c->timer, call_expired, c, NULL);
	ss->fn.source_attach(c->timer, ss->mctx);
	return 0;
}

/*
 * Runs our main context until the operation finishes.  A cancelled GIO
 * operation still finishes (with G_IO_ERROR_CANCELLED), so this ends.
 */
static void
call_wait(struct call *c)
{
	while (c->res == NULL)
		c->ss->fn.iteration(c->ss->mctx, TRUE);
}

static void
call_end(struct call *c)
{
	struct ss_state *ss = c->ss;

	if (ss == NULL)
		return;
	if (c->timer != NULL) {
		ss->fn.source_destroy(c->timer);
		ss->fn.source_unref(c->timer);
	}
	if (c->cancel != NULL)
		ss->fn.object_unref(c->cancel);
	if (c->res != NULL)
		ss->fn.object_unref(c->res);
	memset(c, 0, sizeof(*c));
}

/* The error of a failed call as a message; frees err. */
static int
call_error(scauth_ctx *ctx, struct call *c, GError *err, const char *what)
{
	struct ss_state *ss = c->ss;
	int r;

	if (c->timed_out)
		r = ctx_err(ctx, SCAUTH_ESTORE, "the Secret Service did not answer within %ld s "
		    "(%s); the stored tokens were kept", ctx->timeout, what);
	else
		r = ctx_err(ctx, SCAUTH_ESTORE, "the Secret Service failed (%s): %s; the stored "
		    "tokens were kept", what, err != NULL && err->message != NULL ?
		    err->message : "unknown error");
	if (err != NULL)
		ss->fn.error_free(err);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Loading and connecting. */

static const char *
env(const char *name)
{
	const char *v = secure_getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* A display is there to show libsecret's unlock prompt on. */
static int
have_display(void)
{
	return env("DISPLAY") != NULL || env("WAYLAND_DISPLAY") != NULL;
}

/*
 * Is there a session bus to ask at all?  Without one GIO would try to
 * autolaunch a bus, which takes time and finds no keyring.
 */
static int
have_session_bus(void)
{
	char path[4096];
	const char *run;
	struct stat st;

	if (env("DBUS_SESSION_BUS_ADDRESS") != NULL)
		return 1;
	/* GIO also finds the bus of a systemd user session here. */
	if ((run = env("XDG_RUNTIME_DIR")) == NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s/bus", run) >= sizeof(path))
		return 0;
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Frees the context's part (dl_release()'s hook). */
static void
ss_release(scauth_ctx *ctx)
{
	struct ss_state *ss = ctx->mod[MOD_SS];

	if (ss == NULL)
		return;
	if (ss->service != NULL)
		ss->fn.object_unref(ss->service);
	if (ss->mctx != NULL)
		ss->fn.main_context_unref(ss->mctx);
	dlclose(ss->handle);
	free(ss);
	ctx->mod[MOD_SS] = NULL;
}

static int
ss_load(scauth_ctx *ctx, struct ss_state **out)
{
	static const char *const names[] = { "libsecret-1.so.0", "libsecret-1.so", NULL };
	struct ss_state *ss;
	int r;

	*out = NULL;
	if ((ss = ctx->mod[MOD_SS]) == NULL) {
		if ((ss = calloc(1, sizeof(*ss))) == NULL)
			return SCAUTH_ENOMEM;
		if ((r = dl_load(ctx, names, secret_syms, ARRAY_SIZE(secret_syms), &ss->handle,
		    &ss->fn)) != 0) {
			free(ss);
			return r;
		}
		if ((ss->mctx = ss->fn.main_context_new()) == NULL) {
			dlclose(ss->handle);
			free(ss);
			return SCAUTH_ENOMEM;
		}
		ctx->mod[MOD_SS] = ss;
		dl_on_release(ctx, ss_release);
	}
	*out = ss;
	return 0;
}

/* Connects to the service (once per context) with a session to carry secrets. */
static int
ss_connect(scauth_ctx *ctx, struct ss_state **out)
{
	struct ss_state *ss;
	struct call c = { 0 };
	GError *err = NULL;
	int r;

	*out = NULL;
	/* A PAM module, say: the caller's session bus is not ours to use. */
	if (ctx->flags & SCAUTH_CTX_NO_ENV)
		return ctx_err(ctx, SCAUTH_ESTORE, "no Secret Service: store = secret-service "
		    "needs the user's desktop session, and this caller ignores the environment");
	if (!have_session_bus())
		return ctx_err(ctx, SCAUTH_ESTORE, "no Secret Service: there is no D-Bus session "
		    "bus (DBUS_SESSION_BUS_ADDRESS is not set); store = secret-service needs a "
		    "desktop session");
	if ((r = ss_load(ctx, &ss)) != 0)
		return r;
	if (ss->service != NULL) {
		*out = ss;
		return 0;
	}
	ss->fn.push_thread_default(ss->mctx);
	if ((r = call_begin(ss, &c, ctx->timeout)) != 0)
		goto out;
	ss->fn.service_get(SECRET_SERVICE_OPEN_SESSION, c.cancel, call_done, &c);
	call_wait(&c);
	if ((ss->service = ss->fn.service_get_finish(c.res, &err)) == NULL) {
		if (c.timed_out)
			r = ctx_err(ctx, SCAUTH_ESTORE, "the Secret Service did not answer within "
			    "%ld s", ctx->timeout);
		else
			r = ctx_err(ctx, SCAUTH_ESTORE, "no Secret Service on this session bus "
			    "(%s); start the desktop's keyring (gnome-keyring-daemon, KWallet, "
			    "KeePassXC) or use another store", err != NULL && err->message != NULL ?
			    err->message : "unknown error");
		if (err != NULL)
			ss->fn.error_free(err);
		goto out;
	}
	*out = ss;
	r = 0;
out:
	call_end(&c);
	ss->fn.pop_thread_default(ss->mctx);
	return r;
}

static GHashTable *
attributes(struct ss_state *ss, const char *profile, const char *grant)
{
	GHashTable *h;

	if ((h = ss->fn.hash_table_new(ss->fn.str_hash, ss->fn.str_equal)) == NULL)
		return NULL;
	/* Neither owns its keys or values: they outlive the table. */
	ss->fn.hash_table_insert(h, (gpointer)(uintptr_t)"profile", (gpointer)(uintptr_t)profile);
	ss->fn.hash_table_insert(h, (gpointer)(uintptr_t)"grant", (gpointer)(uintptr_t)grant);
	return h;
}

static int
locked_error(scauth_ctx *ctx, const char *why)
{
	return ctx_err(ctx, SCAUTH_ESTORE, "the keyring is locked; unlock it and retry%s%s",
	    why != NULL ? " " : "", why != NULL ? why : "");
}

/*
 * Offers libsecret's unlock prompt for object (an item or a collection)
 * when there is a display to show it on.  0 once unlocked.
 */
static int
unlock_prompt(scauth_ctx *ctx, struct ss_state *ss, gpointer object)
{
	struct call c = { 0 };
	GList *objects = NULL;
	GError *err = NULL;
	int r, n;

	if (!have_display())
		return locked_error(ctx, "(no display to ask for the password on)");
	if ((objects = ss->fn.list_prepend(NULL, object)) == NULL)
		return SCAUTH_ENOMEM;
	if ((r = call_begin(ss, &c, PROMPT_SEC)) != 0)
		goto out;
	ss->fn.unlock(ss->service, objects, c.cancel, call_done, &c);
	call_wait(&c);
	n = ss->fn.unlock_finish(ss->service, c.res, NULL, &err);
	if (err != NULL)
		ss->fn.error_free(err);
	r = n > 0 ? 0 : locked_error(ctx, c.timed_out ? "(nobody answered the prompt)" :
	    "(the prompt was dismissed)");
out:
	call_end(&c);
	ss->fn.list_free(objects);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The operations. */

static void
free_items(struct ss_state *ss, GList *items)
{
	GList *l;

	for (l = items; l != NULL; l = l->next)
		ss->fn.object_unref(l->data);
	ss->fn.list_free(items);
}

/* Finds the items with our attributes (locked ones too), secrets loaded for the unlocked ones. */
static int
search(scauth_ctx *ctx, struct ss_state *ss, const char *profile, const char *grant,
    GList **items)
{
	struct call c = { 0 };
	GHashTable *attrs = NULL;
	GError *err = NULL;
	int r;

	*items = NULL;
	if ((attrs = attributes(ss, profile, grant)) == NULL)
		return SCAUTH_ENOMEM;
	if ((r = call_begin(ss, &c, ctx->timeout)) != 0)
		goto out;
	ss->fn.search(ss->service, &search_schema, attrs,
	    SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, c.cancel, call_done, &c);
	call_wait(&c);
	*items = ss->fn.search_finish(ss->service, c.res, &err);
	r = err != NULL ? call_error(ctx, &c, err, "search") : 0;
out:
	call_end(&c);
	ss->fn.hash_table_unref(attrs);
	return r;
}

/* An unlocked item with our attributes is ours if it has our schema (another program's is not). */
static int
ours(struct ss_state *ss, SecretItem *item)
{
	gchar *name = ss->fn.item_get_schema_name(item);
	int yes = name != NULL && strcmp(name, SCHEMA_NAME) == 0;

	ss->fn.mem_free(name);
	return yes;
}

/* What a search found for a slot. */
struct found {
	GList *items;           /* everything it gave, owned */
	SecretItem *item;       /* the first unlocked item of ours: the grant */
	SecretItem *locked;     /* the first locked one, which may be ours */
};

static void
found_free(struct ss_state *ss, struct found *f)
{
	free_items(ss, f->items);
	memset(f, 0, sizeof(*f));
}

static int
find(scauth_ctx *ctx, struct ss_state *ss, const char *profile, const char *grant,
    struct found *f)
{
	GList *l;
	int r;

	found_free(ss, f);
	if ((r = search(ctx, ss, profile, grant, &f->items)) != 0)
		return r;
	for (l = f->items; l != NULL; l = l->next) {
		if (ss->fn.item_get_locked(l->data)) {
			if (f->locked == NULL)
				f->locked = l->data;
		} else if (f->item == NULL && ours(ss, l->data)) {
			f->item = l->data;
		}
	}
	return 0;
}

/*
 * Finds the grant's item.  When only a locked item may hold it, that is
 * the keyring is locked (a prompt is offered when one can be shown), never
 * "no grant": a login would then put a second grant beside it.  0 with
 * f->item NULL when there is none.
 */
static int
resolve(scauth_ctx *ctx, struct ss_state *ss, const char *profile, const char *grant,
    struct found *f)
{
	int r;

	if ((r = find(ctx, ss, profile, grant, f)) != 0 || f->item != NULL || f->locked == NULL)
		return r;
	if ((r = unlock_prompt(ctx, ss, f->locked)) != 0)
		return r;
	/* Unlocked now: search again to load its secret (or to see it is not ours). */
	if ((r = find(ctx, ss, profile, grant, f)) != 0)
		return r;
	return f->item == NULL && f->locked != NULL ? locked_error(ctx, NULL) : 0;
}

int
ss_lookup(scauth_ctx *ctx, const char *profile, const char *grant, struct sbuf *out)
{
	struct ss_state *ss = NULL;
	struct found f = { 0 };
	SecretItem *item;
	SecretValue *value = NULL;
	const gchar *p;
	gsize len = 0;
	int r;

	if ((r = ss_connect(ctx, &ss)) != 0)
		return r;
	ss->fn.push_thread_default(ss->mctx);
	if ((r = resolve(ctx, ss, profile, grant, &f)) != 0)
		goto out;
	if ((item = f.item) == NULL) {
		r = 0;
		goto out;
	}
	if ((value = ss->fn.item_get_secret(item)) == NULL) {
		r = ctx_err(ctx, SCAUTH_ESTORE, "the Secret Service gave the item of profile %s "
		    "(%s) without its secret; the stored tokens were kept", profile, grant);
		goto out;
	}
	p = ss->fn.value_get(value, &len);
	if (len > MAX_RECORD) {
		r = ctx_err(ctx, SCAUTH_ECORRUPT, "Secret Service item of profile %s (%s): larger "
		    "than %d bytes; remove it and log in again", profile, grant, MAX_RECORD);
		goto out;
	}
	if ((r = sbuf_add(out, p, len)) == 0)
		r = 1;
out:
	/* libsecret keeps secrets in memory it wipes when freed. */
	if (value != NULL)
		ss->fn.value_unref(value);
	found_free(ss, &f);
	ss->fn.pop_thread_default(ss->mctx);
	return r;
}

static void
value_free(gpointer p)
{
	sfree(p);
}

/* The default collection must be there and open, or we would prompt or fail half way. */
static int
check_default(scauth_ctx *ctx, struct ss_state *ss)
{
	SecretCollection *coll = NULL;
	struct call c = { 0 };
	GError *err = NULL;
	int r;

	if ((r = call_begin(ss, &c, ctx->timeout)) != 0)
		goto out;
	ss->fn.collection_for_alias(ss->service, SECRET_COLLECTION_DEFAULT,
	    SECRET_COLLECTION_NONE, c.cancel, call_done, &c);
	call_wait(&c);
	coll = ss->fn.collection_for_alias_finish(c.res, &err);
	if (err != NULL) {
		r = call_error(ctx, &c, err, "default keyring");
		goto out;
	}
	if (coll == NULL) {
		r = have_display() ? 0 : ctx_err(ctx, SCAUTH_ESTORE, "the Secret Service has no "
		    "default keyring; create one (Seahorse, KWallet ...) and retry");
		goto out;
	}
	r = ss->fn.collection_get_locked(coll) ? unlock_prompt(ctx, ss, coll) : 0;
out:
	if (coll != NULL)
		ss->fn.object_unref(coll);
	call_end(&c);
	return r;
}

int
ss_writable(scauth_ctx *ctx, const char *profile, const char *grant)
{
	struct ss_state *ss = NULL;
	struct found f = { 0 };
	int r;

	if ((r = ss_connect(ctx, &ss)) != 0)
		return r;
	ss->fn.push_thread_default(ss->mctx);
	/* The item is rewritten where it is; only a new one needs the default keyring. */
	if ((r = resolve(ctx, ss, profile, grant, &f)) == 0 && f.item == NULL)
		r = check_default(ctx, ss);
	found_free(ss, &f);
	ss->fn.pop_thread_default(ss->mctx);
	return r;
}

/*
 * The object path of the collection that holds item: the Secret Service
 * names an item COLLECTION/ID.  NULL when it does not look like that.
 */
static char *
collection_of(struct ss_state *ss, SecretItem *item)
{
	const char *path = ss->fn.proxy_get_object_path((GDBusProxy *)item);
	const char *slash = path != NULL ? strrchr(path, '/') : NULL;

	if (slash == NULL || slash == path || slash[1] == '\0')
		return NULL;
	return strndup(path, (size_t)(slash - path));
}

int
ss_store(scauth_ctx *ctx, const char *profile, const char *grant, const char *label,
    const char *data, size_t len)
{
	struct ss_state *ss = NULL;
	struct found f = { 0 };
	struct call c = { 0 };
	GHashTable *attrs = NULL;
	SecretValue *value = NULL;
	GError *err = NULL;
	char *copy = NULL, *coll = NULL;
	int r;

	if ((r = ss_connect(ctx, &ss)) != 0)
		return r;
	ss->fn.push_thread_default(ss->mctx);
	if ((r = resolve(ctx, ss, profile, grant, &f)) != 0 ||
	    (f.item == NULL && (r = check_default(ctx, ss)) != 0))
		goto out;
	if ((attrs = attributes(ss, profile, grant)) == NULL ||
	    (copy = sstrndup(data, len)) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	if ((value = ss->fn.value_new_full(copy, (gssize)len, "text/plain", value_free)) == NULL) {
		sfree(copy);
		r = SCAUTH_ENOMEM;
		goto out;
	}
	/* In the keyring that holds the grant, which need not be the default one. */
	if (f.item != NULL && (coll = collection_of(ss, f.item)) == NULL) {
		r = ctx_err(ctx, SCAUTH_ESTORE, "the Secret Service gave the item of profile %s "
		    "(%s) an unexpected path; the stored tokens were kept", profile, grant);
		goto out;
	}
	if ((r = call_begin(ss, &c, ctx->timeout)) != 0)
		goto out;
	/* Replaces the item with the same attributes in the collection, in one call. */
	ss->fn.store(ss->service, &schema, attrs, coll != NULL ? coll : SECRET_COLLECTION_DEFAULT,
	    label, value, c.cancel, call_done, &c);
	call_wait(&c);
	if (!ss->fn.store_finish(ss->service, c.res, &err)) {
		r = call_error(ctx, &c, err, "store");
		goto out;
	}
	r = 0;
out:
	call_end(&c);
	free(coll);
	found_free(ss, &f);
	if (value != NULL)
		ss->fn.value_unref(value);      /* frees copy */
	if (attrs != NULL)
		ss->fn.hash_table_unref(attrs);
	ss->fn.pop_thread_default(ss->mctx);
	return r;
}

int
ss_clear(scauth_ctx *ctx, const char *profile, const char *grant)
{
	struct ss_state *ss = NULL;
	struct call c = { 0 };
	GList *items = NULL, *l;
	GError *err = NULL;
	int prompted = 0, r;

	if ((r = ss_connect(ctx, &ss)) != 0)
		return r;
	ss->fn.push_thread_default(ss->mctx);
	if ((r = search(ctx, ss, profile, grant, &items)) != 0)
		goto out;
	/* All or nothing: a locked one stops us before anything is removed. */
	for (l = items; l != NULL; l = l->next) {
		if (!ss->fn.item_get_locked(l->data))
			continue;
		if ((r = unlock_prompt(ctx, ss, l->data)) != 0)
			goto out;
		prompted = 1;
	}
	if (prompted) {
		/* Unlocked at the prompt: their schema can be told only now. */
		free_items(ss, items);
		items = NULL;
		if ((r = search(ctx, ss, profile, grant, &items)) != 0)
			goto out;
	}
	for (l = items; l != NULL; l = l->next) {
		if (ss->fn.item_get_locked(l->data)) {
			r = locked_error(ctx, NULL);
			goto out;
		}
		/* Another program's item with the same attributes is not ours to remove. */
		if (!ours(ss, l->data))
			continue;
		if ((r = call_begin(ss, &c, ctx->timeout)) != 0)
			goto out;
		ss->fn.item_delete(l->data, c.cancel, call_done, &c);
		call_wait(&c);
		if (!ss->fn.item_delete_finish(l->data, c.res, &err)) {
			r = call_error(ctx, &c, err, "delete");
			goto out;
		}
		call_end(&c);
	}
	r = 0;
out:
	call_end(&c);
	free_items(ss, items);
	ss->fn.pop_thread_default(ss->mctx);
	return r;
}
