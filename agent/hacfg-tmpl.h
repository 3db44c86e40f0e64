/* SPDX-License-Identifier: Apache-2.0 */
/* The fixed text haproxy-config renders around the YAML's parts. */
#ifndef AOAI_HACFG_TMPL_H
#define AOAI_HACFG_TMPL_H

/* haproxy.cfg, one line per entry without its newline, NULL-terminated;
 * the whole lines "@STATS_SOCKET@", "@SERVERS@" and "@REGIONS@" are
 * filled by the renderer, "@AGENT@" in a line is the agent's address.
 */
extern const char *const hacfg_tmpl_cfg[];

/* The "aoai" backend's server line, rendered once per backend at
 * "@SERVERS@": "@NAME@", "@WEIGHT@" and "@BACKUP@" (" backup" or "").
 */
extern const char *const hacfg_tmpl_server[];

/* The region shim and upstream of one backend, rendered once per backend
 * at "@REGIONS@": "@NAME@" and "@ENDPOINT@" inside lines, "@CREDENTIAL@"
 * (api-key, or none) and "@RENAME@" (deployment rename) as whole lines.
 */
extern const char *const hacfg_tmpl_region[];

/* aoai-spoe.conf, the same way (no part to fill). */
extern const char *const hacfg_tmpl_spoe[];

#endif /* AOAI_HACFG_TMPL_H */
