// PNG and JPEG decoding for xai through libpng and libjpeg(-turbo). Both libraries
// report errors by longjmp, which Swift cannot catch, so the calls live here.
#include "ImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

static int check_size(size_t width, size_t height, size_t channels, size_t max_pixels, xai_image *out) {
  if (width == 0 || height == 0) {
    snprintf(out->message, sizeof out->message, "the image has no pixels (%zu×%zu)", width, height);
    return 1;
  }
  if (width > max_pixels / height || channels == 0 || channels > 4) {
    snprintf(out->message, sizeof out->message,
             "the image is %zu×%zu pixels; xai reads images of at most %zu pixels", width, height, max_pixels);
    return 1;
  }
  return 0;
}

// MARK: PNG

typedef struct {
  const unsigned char *data;
  size_t size;
  size_t offset;
} png_source;

typedef struct {
  jmp_buf jump;
  char *message;
} png_failure;

static void png_read_memory(png_structp png, png_bytep target, png_size_t length) {
  png_source *source = png_get_io_ptr(png);
  if (length > source->size - source->offset) png_error(png, "the file ends early (truncated)");
  memcpy(target, source->data + source->offset, length);
  source->offset += length;
}

static void png_fail(png_structp png, png_const_charp text) {
  png_failure *failure = png_get_error_ptr(png);
  snprintf(failure->message, 200, "%s", text);
  longjmp(failure->jump, 1);
}

static void png_warn(png_structp png, png_const_charp text) {
  (void)png;
  (void)text;
}

int xai_decode_png(const unsigned char *data, size_t size, size_t max_pixels, xai_image *out) {
  memset(out, 0, sizeof *out);
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    snprintf(out->message, sizeof out->message, "it is not a PNG file");
    return 1;
  }
  png_failure failure = {.message = out->message};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_warn);
  if (!png) {
    snprintf(out->message, sizeof out->message, "libpng could not start");
    return 1;
  }
  png_infop info = png_create_info_struct(png);
  png_bytep *rows = NULL;
  unsigned char *pixels = NULL;
  png_source source = {data, size, 0};
  if (setjmp(failure.jump)) {
    free(rows);
    free(pixels);
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    return 1;
  }
  if (!info) png_error(png, "libpng could not start");
  png_set_read_fn(png, &source, png_read_memory);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  png_uint_32 width = png_get_image_width(png, info);
  png_uint_32 height = png_get_image_height(png, info);
  // Before any transformation: png_read_update_info allocates rows of the declared width.
  if (check_size(width, height, 4, max_pixels, out)) longjmp(failure.jump, 1);
  int depth = png_get_bit_depth(png, info);
  int type = png_get_color_type(png, info);
  int clip_gray16 = depth == 16 && type == PNG_COLOR_TYPE_GRAY && !png_get_valid(png, info, PNG_INFO_tRNS);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (depth == 16 && !clip_gray16) png_set_strip_16(png);
  if (clip_gray16) png_set_swap(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  size_t channels = png_get_channels(png, info);
  if (check_size(width, height, channels, max_pixels, out)) longjmp(failure.jump, 1);
  size_t row_bytes = png_get_rowbytes(png, info);
  pixels = malloc(row_bytes * height);
  rows = malloc(sizeof(png_bytep) * height);
  if (!pixels || !rows) {
    snprintf(out->message, sizeof out->message, "out of memory for the image");
    longjmp(failure.jump, 1);
  }
  for (size_t y = 0; y < height; y++) rows[y] = pixels + y * row_bytes;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  if (clip_gray16) {
    // Little-endian 16-bit samples after png_set_swap: min(v, 255) in place.
    for (size_t i = 0; i < (size_t)width * height; i++) {
      unsigned value = pixels[2 * i] | (unsigned)pixels[2 * i + 1] << 8;
      pixels[i] = value > 255 ? 255 : (unsigned char)value;
    }
  }
  free(rows);
  png_destroy_read_struct(&png, &info, NULL);
  out->width = (int)width;
  out->height = (int)height;
  out->channels = (int)channels;
  out->pixels = pixels;
  return 0;
}

// MARK: JPEG

typedef struct {
  struct jpeg_error_mgr manager;
  jmp_buf jump;
  char *message;
} jpeg_failure;

static void jpeg_fail(j_common_ptr info) {
  jpeg_failure *failure = (jpeg_failure *)info->err;
  char text[JMSG_LENGTH_MAX];
  (*info->err->format_message)(info, text);
  snprintf(failure->message, 200, "%s", text);
  longjmp(failure->jump, 1);
}

static void jpeg_message(j_common_ptr info, int level) {
  // A warning (level -1: corrupt or truncated data that libjpeg would pad) fails the
  // image as Pillow does; trace messages (level >= 0) are ignored.
  if (level < 0) jpeg_fail(info);
}

int xai_decode_jpeg(const unsigned char *data, size_t size, size_t max_pixels, xai_image *out) {
  memset(out, 0, sizeof *out);
  if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
    snprintf(out->message, sizeof out->message, "it is not a JPEG file");
    return 1;
  }
  struct jpeg_decompress_struct info;
  jpeg_failure failure = {.message = out->message};
  info.err = jpeg_std_error(&failure.manager);
  failure.manager.error_exit = jpeg_fail;
  failure.manager.emit_message = jpeg_message;
  unsigned char *pixels = NULL;
  if (setjmp(failure.jump)) {
    free(pixels);
    jpeg_destroy_decompress(&info);
    return 1;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, data, (unsigned long)size);
  jpeg_read_header(&info, TRUE);
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
    snprintf(out->message, sizeof out->message, "it is a CMYK JPEG, which xai does not read");
    longjmp(failure.jump, 1);
  }
  info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  if (check_size(info.image_width, info.image_height, info.num_components == 1 ? 1 : 3, max_pixels, out))
    longjmp(failure.jump, 1);
  jpeg_start_decompress(&info);
  size_t stride = (size_t)info.output_width * info.output_components;
  pixels = malloc(stride * info.output_height);
  if (!pixels) {
    snprintf(out->message, sizeof out->message, "out of memory for the image");
    longjmp(failure.jump, 1);
  }
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = pixels + (size_t)info.output_scanline * stride;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  out->width = (int)info.output_width;
  out->height = (int)info.output_height;
  out->channels = info.output_components;
  out->pixels = pixels;
  jpeg_destroy_decompress(&info);
  return 0;
}

void xai_image_free(xai_image *image) {
  free(image->pixels);
  image->pixels = NULL;
}
