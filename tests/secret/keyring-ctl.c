/*
 * keyring-ctl - locks and unlocks the default collection of the Secret
 * Service on the session bus, for the tests: a person would use the
 * desktop's keyring prompt, which a test cannot answer.
 *
 *   keyring-ctl lock [COLL]      Lock the collection (org.freedesktop.Secret.Service.Lock)
 *   keyring-ctl unlock [COLL]    Unlock it with the password read from stdin
 *                                (gnome-keyring's UnlockWithMasterPassword, no prompt)
 *   keyring-ctl locked [COLL]    Print "true" or "false"
 *   keyring-ctl create LABEL     Create a collection with the password read from stdin
 *                                (CreateWithMasterPassword, no prompt); print its path
 *   keyring-ctl set-default COLL Point the "default" alias at it
 *
 * COLL is a collection's object path; without one, the collection that the
 * "default" alias stands for.  A desktop may have several keyrings, and the
 * default one need not be the one that holds an item.
 *
 * Every call is bounded (5 s).  Exit 0 on success, 1 on failure (why on stderr).
 */
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#define BUS_NAME   "org.freedesktop.secrets"
#define SVC_PATH   "/org/freedesktop/secrets"
#define SVC_IFACE  "org.freedesktop.Secret.Service"
#define COLL_IFACE "org.freedesktop.Secret.Collection"
#define GK_IFACE   "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
#define TIMEOUT_MS 5000

static GVariant *
call(GDBusConnection *bus, const char *path, const char *iface, const char *method,
    GVariant *args, const char *type)
{
	GError *err = NULL;
	GVariant *v;

	v = g_dbus_connection_call_sync(bus, BUS_NAME, path, iface, method, args,
	    type != NULL ? G_VARIANT_TYPE(type) : NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
	    TIMEOUT_MS, NULL, &err);
	if (v == NULL) {
		fprintf(stderr, "keyring-ctl: %s: %s\n", method, err->message);
		g_error_free(err);
	}
	return v;
}

/* The object path the "default" alias stands for. */
static char *
default_collection(GDBusConnection *bus)
{
	GVariant *v;
	char *path = NULL;

	if ((v = call(bus, SVC_PATH, SVC_IFACE, "ReadAlias", g_variant_new("(s)", "default"),
	    "(o)")) == NULL)
		return NULL;
	g_variant_get(v, "(o)", &path);
	g_variant_unref(v);
	if (strcmp(path, "/") == 0) {
		fprintf(stderr, "keyring-ctl: no default collection\n");
		g_free(path);
		return NULL;
	}
	return path;
}

static int
do_lock(GDBusConnection *bus, const char *coll)
{
	const char *paths[] = { coll, NULL };
	GVariant *v;

	v = call(bus, SVC_PATH, SVC_IFACE, "Lock",
	    g_variant_new("(@ao)", g_variant_new_objv(paths, 1)), "(aoo)");
	if (v == NULL)
		return 1;
	g_variant_unref(v);
	return 0;
}

/* The password from stdin as a secret of a plain session: it crosses our private bus only. */
static GVariant *
password_secret(GDBusConnection *bus)
{
	char pw[1024];
	size_t n;
	GVariant *v, *secret = NULL;
	char *session = NULL;

	n = fread(pw, 1, sizeof(pw) - 1, stdin);
	while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
		n--;
	if ((v = call(bus, SVC_PATH, SVC_IFACE, "OpenSession",
	    g_variant_new("(sv)", "plain", g_variant_new_string("")), "(vo)")) == NULL)
		goto out;
	g_variant_get(v, "(vo)", NULL, &session);
	g_variant_unref(v);
	secret = g_variant_new("(o@ay@ays)", session,
	    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, "", 0, 1),
	    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, pw, n, 1), "text/plain");
out:
	memset(pw, 0, sizeof(pw));
	g_free(session);
	return secret;
}

static int
do_unlock(GDBusConnection *bus, const char *coll)
{
	GVariant *v, *secret;

	if ((secret = password_secret(bus)) == NULL)
		return 1;
	if ((v = call(bus, SVC_PATH, GK_IFACE, "UnlockWithMasterPassword",
	    g_variant_new("(o@(oayays))", coll, secret), NULL)) == NULL)
		return 1;
	g_variant_unref(v);
	return 0;
}

static int
do_create(GDBusConnection *bus, const char *label)
{
	GVariantBuilder props;
	GVariant *v, *secret;
	char *path = NULL;

	if ((secret = password_secret(bus)) == NULL)
		return 1;
	g_variant_builder_init(&props, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&props, "{sv}", COLL_IFACE ".Label", g_variant_new_string(label));
	if ((v = call(bus, SVC_PATH, GK_IFACE, "CreateWithMasterPassword",
	    g_variant_new("(a{sv}@(oayays))", &props, secret), "(o)")) == NULL)
		return 1;
	g_variant_get(v, "(o)", &path);
	printf("%s\n", path);
	g_free(path);
	g_variant_unref(v);
	return 0;
}

static int
do_set_default(GDBusConnection *bus, const char *coll)
{
	GVariant *v;

	if ((v = call(bus, SVC_PATH, SVC_IFACE, "SetAlias",
	    g_variant_new("(so)", "default", coll), NULL)) == NULL)
		return 1;
	g_variant_unref(v);
	return 0;
}

static int
do_locked(GDBusConnection *bus, const char *coll)
{
	GVariant *v, *val;

	if ((v = call(bus, coll, "org.freedesktop.DBus.Properties", "Get",
	    g_variant_new("(ss)", COLL_IFACE, "Locked"), "(v)")) == NULL)
		return 1;
	g_variant_get(v, "(v)", &val);
	printf("%s\n", g_variant_get_boolean(val) ? "true" : "false");
	g_variant_unref(val);
	g_variant_unref(v);
	return 0;
}

int
main(int argc, char **argv)
{
	GDBusConnection *bus;
	GError *err = NULL;
	char *coll;
	int rc = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: keyring-ctl lock|unlock|locked [COLL] | create LABEL | "
		    "set-default COLL\n");
		return 2;
	}
	if ((bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &err)) == NULL) {
		fprintf(stderr, "keyring-ctl: session bus: %s\n", err->message);
		g_error_free(err);
		return 1;
	}
	if (strcmp(argv[1], "create") == 0 || strcmp(argv[1], "set-default") == 0) {
		if (argc != 3)
			fprintf(stderr, "keyring-ctl: %s needs an argument\n", argv[1]);
		else if (strcmp(argv[1], "create") == 0)
			rc = do_create(bus, argv[2]);
		else
			rc = do_set_default(bus, argv[2]);
	} else if ((coll = argc == 3 ? g_strdup(argv[2]) : default_collection(bus)) != NULL) {
		if (strcmp(argv[1], "lock") == 0)
			rc = do_lock(bus, coll);
		else if (strcmp(argv[1], "unlock") == 0)
			rc = do_unlock(bus, coll);
		else if (strcmp(argv[1], "locked") == 0)
			rc = do_locked(bus, coll);
		else
			fprintf(stderr, "keyring-ctl: unknown command %s\n", argv[1]);
		g_free(coll);
	}
	g_object_unref(bus);
	return rc;
}
