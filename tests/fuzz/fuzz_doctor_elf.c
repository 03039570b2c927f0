/* fuzz: doctor's ELF section lookup and resource table reader on arbitrary firmware files. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "doctor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct doctor_rsc rsc;

	if (doctor_elf_rsc(data, size, &rsc) == 0 && rsc.traces > 0 && strlen(rsc.trace_name) > 32)
		__builtin_trap(); /* the name is always terminated */
	return 0;
}
