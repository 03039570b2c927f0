/* m7bridgectl ports: the serial ports of this machine (libserialport), for UART debugging. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "ctl.h"

#if HAVE_LIBSERIALPORT
#include <libserialport.h>
#endif

int cmd_ports(struct ctl *ctl, int argc, char **argv)
{
	bool json;
	int done = ctl_parse_json_only("ports", argc, argv, &json);

	if (done >= 0)
		return done;
#if HAVE_LIBSERIALPORT
	struct sp_port **list = NULL;
	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	enum sp_return r = sp_list_ports(&list);

	if (r != SP_OK) {
		char *msg = sp_last_error_message();

		fprintf(stderr, "%s: cannot list serial ports: %s\n", ctl_prog,
			msg ? msg : "error");
		sp_free_error_message(msg);
		cJSON_Delete(arr);
		return EXIT_FAILED;
	}
	int n = 0;

	for (; list[n]; n++) {
		struct sp_port *p = list[n];
		enum sp_transport t = sp_get_port_transport(p);
		const char *tname = t == SP_TRANSPORT_USB	  ? "usb"
				    : t == SP_TRANSPORT_BLUETOOTH ? "bluetooth"
								  : "native";
		char usb[16] = "";
		int vid, pid;

		if (t == SP_TRANSPORT_USB && sp_get_port_usb_vid_pid(p, &vid, &pid) == SP_OK)
			snprintf(usb, sizeof(usb), "%04x:%04x", vid & 0xffff, pid & 0xffff);
		/* A USB device names itself (its product string): text from a stranger. */
		const char *name = ctl_str_or(sp_get_port_name(p), "?");
		const char *desc = sp_get_port_description(p);

		if (json) {
			cJSON *o = cJSON_CreateObject();
			char text[3 * 1024 + 1];

			ctl_utf8_text(text, sizeof(text), name);
			cJSON_AddStringToObject(o, "name", text);
			cJSON_AddStringToObject(o, "transport", tname);
			if (desc) {
				ctl_utf8_text(text, sizeof(text), desc);
				cJSON_AddStringToObject(o, "description", text);
			}
			if (usb[0])
				cJSON_AddStringToObject(o, "usb_id", usb);
			cJSON_AddItemToArray(arr, o);
			continue;
		}
		if (n == 0)
			printf("%-16s %-9s %-9s %s\n", "PORT", "TRANSPORT", "USB", "DESCRIPTION");
		printf("%-16s %-9s %-9s %s\n", ctl_safe(name), tname, usb[0] ? usb : "-",
		       ctl_str_or(ctl_safe(desc), "-"));
	}
	sp_free_port_list(list);
	if (json) {
		char *s = cJSON_PrintUnformatted(arr);

		printf("%s\n", s ? s : "[]");
		cJSON_free(s);
		cJSON_Delete(arr);
	} else if (n == 0) {
		printf("no serial ports found\n");
	}
	printf("%s", json ? "" : "(RPMSG ttys are not listed: see 'm7bridgectl status')\n");
	return EXIT_OK;
#else
	(void)json;
	fprintf(stderr, "%s: ports: built without libserialport\n", ctl_prog);
	return EXIT_FAILED;
#endif
}
