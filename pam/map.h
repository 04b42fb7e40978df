/*
 * map.h - the map file of pam_soundcloud: which SoundCloud identity may log
 * in as which local user.  No PAM calls here, so that the parser can be unit
 * tested and fuzzed on its own.
 *
 * One rule a line, "IDENTITY LOCALUSER", where IDENTITY is a urn
 * (soundcloud:users:N), a permalink, or "*" (any SoundCloud account), and
 * LOCALUSER is a user name ("*" is refused there: a rule names its user).
 * '#' starts a comment that runs to the end of the line; blank lines are fine.
 */
#ifndef PAM_SOUNDCLOUD_MAP_H
#define PAM_SOUNDCLOUD_MAP_H

#include <stddef.h>

#define MAP_MAX_FILE      (256 * 1024)  /* bytes of a map file */
#define MAP_MAX_LINE      1024          /* bytes of one line, without its newline */
#define MAP_MAX_PERMALINK 255
#define MAP_MAX_USER      256           /* LOGIN_NAME_MAX on Linux */
#define MAP_MAX_URN_DIGITS 20           /* a 64-bit number */
#define MAP_ERRLEN        512

/* map_load() result when the file does not exist: no map, so no rule. */
#define MAP_MISSING 1

struct map;

/*
 * Parses text[0..len) (need not be NUL-terminated).  name is used in
 * messages ("name:LINE: why").  Returns 0 with *out set (free with
 * map_free), SCAUTH_ECONFIG with the reason in err, or SCAUTH_ENOMEM.
 */
int map_parse(const char *text, size_t len, const char *name, struct map **out,
    char *err, size_t errlen);

/*
 * Reads and parses the map file at path.  The file is opened without
 * following a link and must be a regular file owned by root (or by the
 * effective user) and not writable by group or other, in a directory chain
 * that nobody else may write either.  Returns 0 with *out set, MAP_MISSING
 * (*out NULL) when there is no such file, SCAUTH_EUNSAFE, SCAUTH_ECONFIG or
 * SCAUTH_ENOMEM with the reason in err.
 */
int map_load(const char *path, struct map **out, char *err, size_t errlen);

/* Number of rules. */
size_t map_rules(const struct map *m);

/* 1 if some rule names user as its LOCALUSER, else 0. */
int map_has_user(const struct map *m, const char *user);

/*
 * 1 if a rule lets the identity (urn, and permalink which may be NULL) log
 * in as user, else 0.  A NULL or empty urn is never allowed, not even by
 * "*": an account without a known identity cannot be checked later.  The
 * urn and permalink must have the syntax the map accepts for them.
 */
int map_allows(const struct map *m, const char *urn, const char *permalink, const char *user);

/* Frees.  NULL is allowed. */
void map_free(struct map *m);

#endif /* PAM_SOUNDCLOUD_MAP_H */
