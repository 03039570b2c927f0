/* libFuzzer target for the last good firmware record (daemon/fwverify.c), read from the
 * state directory: any bytes parse or fail cleanly, and what parses formats back to a
 * line that parses to the same record. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fwverify.h"
#include "recovery.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[RECOVERY_FIRMWARE_MAX], name2[RECOVERY_FIRMWARE_MAX];
	char line[RECOVERY_FIRMWARE_MAX + 2 * FWVERIFY_ID_MAX + 4];
	uint8_t id[FWVERIFY_ID_MAX], id2[FWVERIFY_ID_MAX];
	size_t len, len2;
	int n;

	if (fwverify_record_parse((const char *)data, size, name, sizeof(name), id, sizeof(id),
				  &len) < 0)
		return 0;
	CHECK(recovery_firmware_name_ok(name) && len <= sizeof(id));
	n = fwverify_record_format(line, sizeof(line), name, id, len);
	CHECK(n > 0 && (size_t)n == strlen(line));
	CHECK(fwverify_record_parse(line, (size_t)n, name2, sizeof(name2), id2, sizeof(id2),
				    &len2) == 0);
	CHECK(strcmp(name, name2) == 0 && len == len2 && memcmp(id, id2, len) == 0);
	return 0;
}
