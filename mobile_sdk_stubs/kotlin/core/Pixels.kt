// Pictures as pixel arrays, and the card's preprocessing on them: EXIF orientation, antialiased
// resize, centre crop, normalisation. JVM core: no android.* here, so the same code runs in the
// tests on a JVM and in the app on the pixels of a Bitmap.
//
// The resize is Pillow's BILINEAR resize (what the server and the Python client use, see
// edge_models/preprocessing.py), step for step: a box reduce by whole factors when the photo is
// at least 3x too big (Image.resize's reducing_gap=3.0), then the separable triangle filter whose
// support widens with the scale, so every source pixel counts (it antialiases), in 22-bit fixed
// point rounded to 8 bits after each pass. Android's Bitmap.createScaledBitmap(filter = true)
// samples only 2x2 source pixels per output pixel, which aliases on a 12 MP photo.
package eu.artsnap.client

import kotlin.math.ceil
import kotlin.math.max
import kotlin.math.min
import kotlin.math.roundToInt

/** An RGB picture: packed 0xAARRGGBB ints, row by row (what Android's Bitmap.getPixels fills). */
class RgbImage(val width: Int, val height: Int, val argb: IntArray) {
    init {
        require(width > 0 && height > 0 && argb.size == width * height) { "pixel array does not match ${width}x$height" }
    }

    fun crop(left: Int, top: Int, w: Int, h: Int): RgbImage {
        require(left >= 0 && top >= 0 && left + w <= width && top + h <= height) { "crop outside the picture" }
        val out = IntArray(w * h)
        for (y in 0 until h) System.arraycopy(argb, (top + y) * width + left, out, y * w, w)
        return RgbImage(w, h, out)
    }

    /**
     * The picture turned upright from its EXIF orientation tag (1..8, as Pillow's exif_transpose,
     * Android's ExifInterface and iOS's CGImagePropertyOrientation number them). 1 or unknown: as is.
     */
    fun oriented(exifOrientation: Int): RgbImage {
        if (exifOrientation !in 2..8) return this
        val swap = exifOrientation >= 5
        val w = if (swap) height else width
        val h = if (swap) width else height
        val out = IntArray(w * h)
        for (y in 0 until h) for (x in 0 until w) {
            val (sx, sy) = when (exifOrientation) {
                2 -> (width - 1 - x) to y // mirrored
                3 -> (width - 1 - x) to (height - 1 - y) // upside down
                4 -> x to (height - 1 - y) // mirrored vertically
                5 -> y to x // transposed
                6 -> y to (height - 1 - x) // stored 90° counter-clockwise: turn clockwise
                7 -> (width - 1 - y) to (height - 1 - x) // transversed
                else -> (width - 1 - y) to x // 8: stored 90° clockwise: turn counter-clockwise
            }
            out[y * w + x] = argb[sy * width + sx]
        }
        return RgbImage(w, h, out)
    }

    /** Antialiased resize to [w] x [h] (Pillow's BILINEAR with reducing_gap 3, see the file header). */
    fun resized(w: Int, h: Int): RgbImage = PillowBilinear.resize(this, w, h)
}

/** The size a photo is uploaded at: long side at most [maxSide] (never enlarged), aspect kept. */
fun uploadSize(width: Int, height: Int, maxSide: Int = UPLOAD_MAX_SIDE): Pair<Int, Int> {
    val longSide = max(width, height)
    if (longSide <= maxSide) return width to height
    val scale = maxSide.toDouble() / longSide
    return max(1, (width * scale).roundToInt()) to max(1, (height * scale).roundToInt())
}

const val UPLOAD_MAX_SIDE = 1024

/** Shorter side to resize_shorter, then the centre input_size square (as PreprocessSpec.resize_and_crop). */
fun Preprocessing.resizeAndCrop(upright: RgbImage): RgbImage {
    val scale = resizeShorter.toDouble() / min(upright.width, upright.height)
    // Python's round() rounds halves to even; Math.rint does too.
    val w = max(inputSize, Math.rint(upright.width * scale).toInt())
    val h = max(inputSize, Math.rint(upright.height * scale).toInt())
    val resized = if (w == upright.width && h == upright.height) upright else upright.resized(w, h)
    return resized.crop((w - inputSize) / 2, (h - inputSize) / 2, inputSize, inputSize)
}

/** The model's input: NHWC float32, (x - mean) / std per channel, from an upright picture. */
fun Preprocessing.toInput(upright: RgbImage): FloatArray {
    val img = resizeAndCrop(upright)
    val out = FloatArray(inputSize * inputSize * 3)
    var i = 0
    for (p in img.argb) {
        out[i++] = ((p shr 16 and 0xFF) - mean[0]) / std[0]
        out[i++] = ((p shr 8 and 0xFF) - mean[1]) / std[1]
        out[i++] = ((p and 0xFF) - mean[2]) / std[2]
    }
    return out
}

/** Pillow's 8-bit BILINEAR resize (libImaging Reduce.c + Resample.c), so phone and server see the same pixels. */
internal object PillowBilinear {
    private const val PRECISION_BITS = 32 - 8 - 2
    private const val REDUCING_GAP = 3.0

    fun resize(src: RgbImage, w: Int, h: Int): RgbImage {
        require(w > 0 && h > 0) { "size must be positive" }
        if (w == src.width && h == src.height) return src
        val fx = max(1, (src.width.toDouble() / w / REDUCING_GAP).toInt())
        val fy = max(1, (src.height.toDouble() / h / REDUCING_GAP).toInt())
        if (fx == 1 && fy == 1) return resample(src, w, h, 0f, 0f, src.width.toFloat(), src.height.toFloat())
        val reduced = reduce(src, fx, fy)
        return resample(reduced, w, h, 0f, 0f, (src.width.toDouble() / fx).toFloat(), (src.height.toDouble() / fy).toFloat())
    }

    /** Image.reduce: the mean of each fx x fy block (partial blocks at the right and bottom edges). */
    private fun reduce(src: RgbImage, fx: Int, fy: Int): RgbImage {
        val ow = (src.width + fx - 1) / fx
        val oh = (src.height + fy - 1) / fy
        val out = IntArray(ow * oh)
        for (oy in 0 until oh) {
            val y0 = oy * fy
            val y1 = min(y0 + fy, src.height)
            for (ox in 0 until ow) {
                val x0 = ox * fx
                val x1 = min(x0 + fx, src.width)
                val n = (x1 - x0) * (y1 - y0)
                var r = 0L
                var g = 0L
                var b = 0L
                for (y in y0 until y1) {
                    val row = y * src.width
                    for (x in x0 until x1) {
                        val p = src.argb[row + x]
                        r += p shr 16 and 0xFF
                        g += p shr 8 and 0xFF
                        b += p and 0xFF
                    }
                }
                // division_UINT32: a float division, truncated, as Pillow computes it.
                val multiplier = (4294967296.0f / (256 * n).toFloat()).toLong()
                val amend = (n / 2).toLong()
                fun avg(s: Long) = (((s + amend) * multiplier) ushr 24).toInt() and 0xFF
                out[oy * ow + ox] = (0xFF shl 24) or (avg(r) shl 16) or (avg(g) shl 8) or avg(b)
            }
        }
        return RgbImage(ow, oh, out)
    }

    private class Coeffs(val ksize: Int, val bounds: IntArray, val kk: IntArray)

    /** precompute_coeffs + normalize_coeffs_8bpc for one axis; in0/in1 are C floats as in Pillow. */
    private fun coeffs(inSize: Int, in0: Float, in1: Float, outSize: Int): Coeffs {
        val scale = (in1 - in0).toDouble() / outSize
        val filterscale = max(scale, 1.0)
        val support = 1.0 * filterscale // the bilinear (triangle) filter has support 1
        val ksize = ceil(support).toInt() * 2 + 1
        val bounds = IntArray(outSize * 2)
        val kk = IntArray(outSize * ksize)
        val k = DoubleArray(ksize)
        for (xx in 0 until outSize) {
            val center = in0 + (xx + 0.5) * scale
            var ww = 0.0
            val ss = 1.0 / filterscale
            val xmin = max(0, (center - support + 0.5).toInt())
            val xmax = min(inSize, (center + support + 0.5).toInt()) - xmin
            for (x in 0 until xmax) {
                val t = Math.abs((x + xmin - center + 0.5) * ss)
                val w = if (t < 1.0) 1.0 - t else 0.0
                k[x] = w
                ww += w
            }
            for (x in 0 until ksize) {
                val v = if (x < xmax && ww != 0.0) k[x] / ww else if (x < xmax) k[x] else 0.0
                kk[xx * ksize + x] = if (v < 0) (-0.5 + v * (1 shl PRECISION_BITS)).toInt() else (0.5 + v * (1 shl PRECISION_BITS)).toInt()
            }
            bounds[xx * 2] = xmin
            bounds[xx * 2 + 1] = xmax
        }
        return Coeffs(ksize, bounds, kk)
    }

    private fun clip8(v: Int): Int = min(255, max(0, v shr PRECISION_BITS))

    /** ImagingResampleInner: horizontal pass over the rows the vertical pass needs, then vertical. */
    private fun resample(src: RgbImage, w: Int, h: Int, x0: Float, y0: Float, x1: Float, y1: Float): RgbImage {
        val needH = w != src.width || x0 != 0f || x1 != w.toFloat()
        val needV = h != src.height || y0 != 0f || y1 != h.toFloat()
        val vert = coeffs(src.height, y0, y1, h)
        var img = src
        val vbounds = vert.bounds.copyOf()
        if (needH) {
            val first = vbounds[0]
            val last = vbounds[h * 2 - 2] + vbounds[h * 2 - 1]
            for (i in 0 until h) vbounds[i * 2] -= first
            val hor = coeffs(src.width, x0, x1, w)
            val rows = last - first
            val out = IntArray(w * rows)
            for (yy in 0 until rows) {
                val row = (yy + first) * src.width
                for (xx in 0 until w) {
                    val xmin = hor.bounds[xx * 2]
                    val n = hor.bounds[xx * 2 + 1]
                    var r = 1 shl (PRECISION_BITS - 1)
                    var g = r
                    var b = r
                    for (x in 0 until n) {
                        val p = src.argb[row + xmin + x]
                        val c = hor.kk[xx * hor.ksize + x]
                        r += (p shr 16 and 0xFF) * c
                        g += (p shr 8 and 0xFF) * c
                        b += (p and 0xFF) * c
                    }
                    out[yy * w + xx] = (0xFF shl 24) or (clip8(r) shl 16) or (clip8(g) shl 8) or clip8(b)
                }
            }
            img = RgbImage(w, rows, out)
        }
        if (!needV) return img
        val out = IntArray(img.width * h)
        for (yy in 0 until h) {
            val ymin = vbounds[yy * 2]
            val n = vbounds[yy * 2 + 1]
            for (xx in 0 until img.width) {
                var r = 1 shl (PRECISION_BITS - 1)
                var g = r
                var b = r
                for (y in 0 until n) {
                    val p = img.argb[(y + ymin) * img.width + xx]
                    val c = vert.kk[yy * vert.ksize + y]
                    r += (p shr 16 and 0xFF) * c
                    g += (p shr 8 and 0xFF) * c
                    b += (p and 0xFF) * c
                }
                out[yy * img.width + xx] = (0xFF shl 24) or (clip8(r) shl 16) or (clip8(g) shl 8) or clip8(b)
            }
        }
        return RgbImage(img.width, h, out)
    }
}
