/* cmd_keys.c - `steme keygen` (make an agent key file) and `steme hash`
 * (BLAKE3 of files, like b3sum). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "steme/hash.h"
#include "steme/keyfile.h"
#include "steme/sign.h"

static int run_keygen(int argc, char **argv)
{
    cli_opts o;
    static const char *const known[] = {"out", "force", NULL};
    static const char *const flags[] = {"force", NULL};
    int rc = cli_parse(argc, argv, flags, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "keygen", known)) != CLI_OK)
        return rc;
    const char *out = cli_require(&o, "keygen", "out");
    if (!out)
        return CLI_USAGE;
    struct stat st;
    if (!cli_has(&o, "force") && stat(out, &st) == 0)
        return cli_fail(CLI_FAIL, "keygen", "%s exists (use --force to replace it)", out);
    steme_agent_id pk;
    steme_secret_key sk;
    steme_error e;
    if ((rc = steme_keypair_generate(&pk, &sk, &e)) != STEME_OK ||
        (rc = steme_keyfile_save(out, &sk, &e)) != STEME_OK) {
        steme_secret_key_wipe(&sk);
        return cli_fail(cli_exit_for_status(rc), "keygen", "%s", e.message);
    }
    steme_secret_key_wipe(&sk);
    char hex[2 * STEME_AGENT_ID_LEN + 1];
    steme_hex_encode(pk.bytes, sizeof pk.bytes, hex, sizeof hex);
    if (o.json)
        printf("{\"agent\":\"%s\",\"key_file\":", hex), cli_json_str(stdout, out, strlen(out)),
            printf("}\n");
    else
        printf("agent %s\nkey   %s (keep it private)\n", hex, out);
    return CLI_OK;
}

const cli_cmd cli_cmd_keygen = {
    "keygen", "make a new agent key (Ed25519); the agent id is its public key",
    "--out FILE [--force] [--json]", run_keygen};

static int hash_file(const char *path, uint8_t out[32])
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return -1;
    steme_blake3 h;
    steme_blake3_init(&h);
    static uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        steme_blake3_update(&h, buf, n);
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad)
        return -1;
    steme_blake3_finalize(&h, out, 32);
    return 0;
}

static int run_hash(int argc, char **argv)
{
    cli_opts o;
    int rc = cli_parse(argc, argv, NULL, &o);
    if (rc != CLI_OK || (rc = cli_check_known(&o, "hash", NULL)) != CLI_OK)
        return rc;
    if (o.npos == 0)
        o.pos[o.npos++] = "-";
    int status = CLI_OK;
    for (int i = 0; i < o.npos; i++) {
        uint8_t d[32];
        char hex[65];
        if (hash_file(o.pos[i], d) != 0) {
            status = cli_fail(CLI_ERROR, "hash", "cannot read %s", o.pos[i]);
            continue;
        }
        steme_hex_encode(d, 32, hex, sizeof hex);
        if (o.json) {
            printf("{\"blake3\":\"%s\",\"file\":", hex);
            cli_json_str(stdout, o.pos[i], strlen(o.pos[i]));
            printf("}\n");
        } else {
            printf("%s  %s\n", hex, o.pos[i]);
        }
    }
    return status;
}

const cli_cmd cli_cmd_hash = {"hash", "BLAKE3-256 of files (or standard input), like b3sum",
                              "[FILE...] [--json]", run_hash};
