// The thin Android layer: Bitmap decoding with EXIF orientation, JPEG encoding, and running the
// .tflite with LiteRT. Everything else (HTTP, verified downloads, the card, preprocessing) is the
// JVM core in ../core, which is compiled and tested against a real server in `make test`.
//
// This file needs android.jar, androidx.exifinterface and LiteRT, so only an Android build compiles
// it; it is kept small and written against the public APIs only:
//   - android.graphics.BitmapFactory.decodeByteArray(byte[], int, int, Options), Options.inJustDecodeBounds,
//     inSampleSize; Bitmap.getPixels(int[], int, int, int, int, int, int); Bitmap.compress(CompressFormat, int, OutputStream)
//   - androidx.exifinterface.media.ExifInterface(InputStream).getAttributeInt(TAG_ORIENTATION, ORIENTATION_NORMAL)
//   - org.tensorflow.lite.Interpreter(File, Interpreter.Options) and
//     Interpreter.runSignature(Map<String, Object> inputs, Map<String, Object> outputs, String signatureKey)
//     (com.google.ai.edge.litert:litert keeps the org.tensorflow.lite package). getSignatureRunner is not public Java API.
// Gradle: implementation("com.google.ai.edge.litert:litert:1.+"), "androidx.exifinterface:exifinterface:1.3.+",
// "org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.+"; minSdk 24.
package eu.artsnap.client.android

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import androidx.exifinterface.media.ExifInterface
import eu.artsnap.client.DecodedPhoto
import eu.artsnap.client.ImageCodec
import eu.artsnap.client.ModelCard
import eu.artsnap.client.OnDeviceResult
import eu.artsnap.client.RgbImage
import eu.artsnap.client.modelInput
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.tensorflow.lite.Interpreter
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** Decodes with BitmapFactory (sub-sampled by powers of two while big enough), EXIF via ExifInterface. */
class BitmapCodec : ImageCodec {
    override fun decode(bytes: ByteArray, minShorterSide: Int, minLongSide: Int): DecodedPhoto {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeByteArray(bytes, 0, bytes.size, bounds)
        val short = minOf(bounds.outWidth, bounds.outHeight)
        val long = maxOf(bounds.outWidth, bounds.outHeight)
        var sample = 1
        while (minShorterSide + minLongSide > 0 && short / (sample * 2) >= minShorterSide && long / (sample * 2) >= minLongSide) sample *= 2
        val opts = BitmapFactory.Options().apply { inSampleSize = sample; inPreferredConfig = Bitmap.Config.ARGB_8888 }
        val bitmap = BitmapFactory.decodeByteArray(bytes, 0, bytes.size, opts) ?: throw IllegalArgumentException("not an image")
        val px = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(px, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val orientation = ExifInterface(ByteArrayInputStream(bytes)).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        return DecodedPhoto(RgbImage(bitmap.width, bitmap.height, px), orientation).also { bitmap.recycle() }
    }

    override fun encodeJpeg(image: RgbImage, quality: Int): ByteArray {
        val bitmap = Bitmap.createBitmap(image.argb, image.width, image.height, Bitmap.Config.ARGB_8888)
        return ByteArrayOutputStream().also { bitmap.compress(Bitmap.CompressFormat.JPEG, quality, it) }.toByteArray().also { bitmap.recycle() }
    }
}

/** The downloaded .tflite in LiteRT: labels (top-1 with the card's abstain threshold) and the embedding. */
class OnDeviceModel(modelFile: File, val card: ModelCard, threads: Int = 2) : AutoCloseable {
    private val interpreter = Interpreter(modelFile, Interpreter.Options().setNumThreads(threads))
    private val codec = BitmapCodec()

    suspend fun predict(photo: ByteArray): OnDeviceResult = withContext(Dispatchers.Default) {
        val x = codec.modelInput(photo, card.preprocessing)
        val input = ByteBuffer.allocateDirect(4 * x.size).order(ByteOrder.nativeOrder()).apply { asFloatBuffer().put(x) }
        val probs = Array(1) { FloatArray(card.labels.size) }
        val emb = Array(1) { FloatArray(card.embeddingSize) }
        synchronized(interpreter) {
            interpreter.runSignature(mapOf("image" to input), mapOf("probabilities" to probs, "embedding" to emb), "serving_default")
        }
        OnDeviceResult(card.decide(probs[0]), probs[0], emb[0], card.embeddingSpace)
    }

    override fun close() = interpreter.close()
}
