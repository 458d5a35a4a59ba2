/* SPDX-License-Identifier: MIT */
/*
 * A configuration as a QR code in the terminal, for the WireGuard phone
 * apps. The code is libqrencode's (level L, automatic version and modes)
 * and the drawing is qrencode(1)'s "-t UTF8 -m 2": two module rows per text
 * line with half blocks, light modules drawn, which suits the usual light
 * text on a dark background. A test compares the output byte for byte with
 * qrencode(1) and decodes it with zbarimg(1).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <qrencode.h>

#define MARGIN 2

static const char EMPTY[] = " ";
static const char LOWHALF[] = "\xe2\x96\x84";
static const char UPHALF[] = "\xe2\x96\x80";
static const char FULL[] = "\xe2\x96\x88";

static void margin_rows(int realwidth)
{
	for (int y = 0; y < MARGIN / 2; y++) {
		for (int x = 0; x < realwidth; x++)
			fputs(FULL, stdout);
		fputc('\n', stdout);
	}
}

int cli_print_qr(const char *text)
{
	QRcode *qr;
	int w;

	errno = 0;
	qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	if (!qr) {
		if (errno == ERANGE)
			return cli_fail("the configuration (%zu bytes) is too large for a QR code; "
					"use the file instead (fewer --exclude networks make it "
					"smaller)",
					strlen(text));
		return cli_fail("cannot make a QR code: %s", strerror(errno ? errno : ENOMEM));
	}
	w = qr->width;
	margin_rows(w + 2 * MARGIN);
	for (int y = 0; y < w; y += 2) {
		const unsigned char *row1 = qr->data + y * w, *row2 = row1 + w;

		for (int x = 0; x < MARGIN; x++)
			fputs(FULL, stdout);
		for (int x = 0; x < w; x++) {
			bool top = row1[x] & 1, bottom = y + 1 < w && (row2[x] & 1);

			/* Dark modules are the blank parts of a cell. */
			if (top)
				fputs(bottom ? EMPTY : LOWHALF, stdout);
			else
				fputs(bottom ? UPHALF : FULL, stdout);
		}
		for (int x = 0; x < MARGIN; x++)
			fputs(FULL, stdout);
		fputc('\n', stdout);
	}
	margin_rows(w + 2 * MARGIN);
	QRcode_free(qr);
	return EXIT_OK;
}
