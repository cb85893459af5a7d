/*
 * fuzz_config - main.cf and master.cf parsers, expansion and the typed
 * parameter loader over arbitrary bytes.  The first byte picks the
 * parser.  Invariant: every error is located (FILE:LINE or FILE).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/diag.h"
#include "lib/mastercf.h"
#include "lib/params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag *d = diag_new();

	if (size > 0 && (data[0] & 1)) {
		struct mastercf mcf = { 0 };
		(void)mastercf_parse(&mcf, "master.cf", data + 1, size - 1, d);
		mastercf_free(&mcf);
	} else {
		struct config *cfg = config_new("/etc/facteur");
		struct params p = { 0 };
		(void)config_parse(cfg, "main.cf", data, size, d);
		(void)params_load(&p, cfg, d);
		params_free(&p);
		config_free(&cfg);
	}
	/* Every diagnostic line starts with a file name. */
	const char *t = diag_text(d);
	while (*t != '\0') {
		if (strncmp(t, "main.cf", 7) != 0 &&
		    strncmp(t, "master.cf", 9) != 0 &&
		    strncmp(t, "(default)", 9) != 0)
			abort();
		const char *nl = strchr(t, '\n');
		if (nl == NULL)
			break;
		t = nl + 1;
	}
	diag_free(&d);
	return 0;
}
