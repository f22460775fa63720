// How the core gets pixels out of a photo file and a JPEG back: the one platform-specific piece.
// Android: BitmapFactory + ExifInterface + Bitmap.compress (android/AndroidArtsnap.kt).
// JVM (tests, desktop tools): ImageIO + metadata-extractor (jvm/JvmImageCodec.kt).
package eu.artsnap.client

/** A decoded photo as stored (not yet turned upright) and its EXIF orientation (1..8; 1 = upright). */
class DecodedPhoto(val pixels: RgbImage, val exifOrientation: Int) {
    /** The photo the way the person saw it when they took it. */
    fun upright(): RgbImage = pixels.oriented(exifOrientation)
}

interface ImageCodec {
    /**
     * Decode [bytes]. A codec may decode a big photo at a reduced size (BitmapFactory's
     * inSampleSize: a 12 MP bitmap is 48 MB) as long as the shorter side stays at least
     * [minShorterSide] and the longer side at least [minLongSide] pixels; 0 = no limit asked.
     */
    fun decode(bytes: ByteArray, minShorterSide: Int = 0, minLongSide: Int = 0): DecodedPhoto

    fun encodeJpeg(image: RgbImage, quality: Int): ByteArray
}

/** The photo to upload: upright, long side at most [maxSide] (antialiased), JPEG. */
fun ImageCodec.prepareUpload(photo: ByteArray, maxSide: Int = UPLOAD_MAX_SIDE, quality: Int = 90): ByteArray {
    val upright = decode(photo, minLongSide = maxSide).upright()
    val (w, h) = uploadSize(upright.width, upright.height, maxSide)
    return encodeJpeg(if (w == upright.width && h == upright.height) upright else upright.resized(w, h), quality)
}

/** The model input for a photo file: upright, resized and cropped per the card, normalised. */
fun ImageCodec.modelInput(photo: ByteArray, pre: Preprocessing): FloatArray =
    pre.toInput(decode(photo, minShorterSide = 2 * pre.resizeShorter).upright())
