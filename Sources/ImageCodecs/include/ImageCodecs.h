#ifndef XAI_IMAGE_CODECS_H
#define XAI_IMAGE_CODECS_H

#include <stddef.h>

/// A decoded image: 8-bit samples, row-major, `channels` per pixel (1 gray, 2 gray +
/// alpha, 3 RGB, 4 RGBA). `pixels` is malloc'ed; free it with xai_image_free.
typedef struct {
  int width;
  int height;
  int channels;
  unsigned char *pixels;
  char message[200];
} xai_image;

/// Decodes a PNG held in memory. Palettes become RGB(A), transparency chunks alpha,
/// 1/2/4-bit gray 8-bit; 16-bit gray is clipped to 255 (as Pillow converts it), other
/// 16-bit samples keep their high byte (as Pillow decodes them). Images with more than
/// `max_pixels` pixels, or none, are refused before any pixel memory is allocated.
/// Returns 0 on success, else fills `message` with one sentence.
int xai_decode_png(const unsigned char *data, size_t size, size_t max_pixels, xai_image *out);

/// Decodes a JPEG held in memory with libjpeg's defaults (ISLOW DCT, fancy
/// upsampling) to gray or RGB; a warning (such as a truncated file) is an error.
int xai_decode_jpeg(const unsigned char *data, size_t size, size_t max_pixels, xai_image *out);

/// Frees the pixels of a decoded image.
void xai_image_free(xai_image *image);

#endif
