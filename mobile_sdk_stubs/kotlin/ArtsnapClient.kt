// artsnap Android client: on-device labelling with the .tflite (LiteRT), search by photo or vector.
//
// Every preprocessing number comes from the model card (model_card.json served beside the file
// and embedded in the .tflite's metadata): input_size, resize_shorter, mean, std. Nothing is
// hard-coded here. Not compiled in this repository's CI (no Android toolchain on the Linux build
// machines); the Python reference client (mobile_sdk_stubs/on_device.py) runs the same steps in
// the tests against the real exported files.
package eu.artsnap.client

import android.graphics.Bitmap
import okhttp3.MediaType.Companion.toMediaType
import okhttp3.MultipartBody
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import org.json.JSONArray
import org.json.JSONObject
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.security.MessageDigest

data class Preprocessing(val inputSize: Int, val resizeShorter: Int, val mean: FloatArray, val std: FloatArray) {
    companion object {
        fun fromCard(card: JSONObject): Preprocessing {
            val p = card.getJSONObject("preprocessing")
            fun floats(a: JSONArray) = FloatArray(a.length()) { a.getDouble(it).toFloat() }
            return Preprocessing(p.getInt("input_size"), p.getInt("resize_shorter"), floats(p.getJSONArray("mean")), floats(p.getJSONArray("std")))
        }
    }
}

data class Label(val name: String, val confidence: Float)
data class OnDeviceResult(val labels: List<Label>, val embedding: FloatArray)

class ArtsnapError(val code: String, message: String) : Exception(message)

class OnDeviceModel(modelFile: File, private val card: JSONObject) {
    private val interpreter = Interpreter(modelFile, Interpreter.Options().setNumThreads(2))
    private val pre = Preprocessing.fromCard(card)
    private val labels = card.getJSONArray("labels").let { a -> List(a.length()) { a.getString(it) } }
    private val extra = card.optJSONObject("extra") ?: JSONObject()

    /** Resize shorter side, centre crop, (x - mean) / std, NHWC float32: the card's spec. */
    private fun input(bitmap: Bitmap): ByteBuffer {
        val scale = pre.resizeShorter.toFloat() / minOf(bitmap.width, bitmap.height)
        val w = maxOf(pre.inputSize, Math.round(bitmap.width * scale))
        val h = maxOf(pre.inputSize, Math.round(bitmap.height * scale))
        val resized = Bitmap.createScaledBitmap(bitmap, w, h, true)
        val crop = Bitmap.createBitmap(resized, (w - pre.inputSize) / 2, (h - pre.inputSize) / 2, pre.inputSize, pre.inputSize)
        val buf = ByteBuffer.allocateDirect(4 * 3 * pre.inputSize * pre.inputSize).order(ByteOrder.nativeOrder())
        val px = IntArray(pre.inputSize * pre.inputSize)
        crop.getPixels(px, 0, pre.inputSize, 0, 0, pre.inputSize, pre.inputSize)
        for (p in px) {
            buf.putFloat(((p shr 16 and 0xFF) - pre.mean[0]) / pre.std[0])
            buf.putFloat(((p shr 8 and 0xFF) - pre.mean[1]) / pre.std[1])
            buf.putFloat(((p and 0xFF) - pre.mean[2]) / pre.std[2])
        }
        return buf.rewind() as ByteBuffer
    }

    fun predict(bitmap: Bitmap): OnDeviceResult {
        val runner = interpreter.getSignatureRunner("serving_default")
        val probs = Array(1) { FloatArray(labels.size) }
        val emb = Array(1) { FloatArray(card.getJSONArray("outputs").getJSONObject(1).getJSONArray("shape").getInt(1)) }
        runner.run(mapOf("image" to input(bitmap)), mapOf("probabilities" to probs, "embedding" to emb))
        val p = probs[0]
        val chosen = if (extra.optBoolean("multi_label")) {
            val th = extra.optJSONArray("label_thresholds")
            labels.indices.filter { p[it] >= (th?.optDouble(it, 0.5) ?: 0.5) }.map { Label(labels[it], p[it]) }
        } else {
            val best = p.indices.maxBy { p[it] }
            if (p[best] >= extra.optDouble("abstain_threshold", 0.0)) listOf(Label(labels[best], p[best])) else emptyList()
        }
        return OnDeviceResult(chosen.sortedByDescending { it.confidence }, emb[0])
    }
}

class ArtsnapClient(private val baseUrl: String, private val http: OkHttpClient = OkHttpClient()) {
    private fun call(req: Request): JSONObject = http.newCall(req).execute().use { resp ->
        val body = JSONObject(resp.body!!.string())
        if (!resp.isSuccessful) body.getJSONObject("error").let { throw ArtsnapError(it.getString("code"), it.getString("message")) }
        body
    }

    /** Download the latest .tflite once per version (checked against the card's SHA-256). */
    fun updateModel(cacheDir: File, key: String = "tflite_int8"): Pair<File, JSONObject> {
        val latest = call(Request.Builder().url("$baseUrl/v1/models/latest").build())
        val file = latest.getJSONObject("files").getJSONObject(key)
        val target = File(cacheDir, "${latest.getString("version")}/${file.getString("name")}")
        if (!target.exists() || sha256(target) != file.optString("sha256")) {
            target.parentFile!!.mkdirs()
            http.newCall(Request.Builder().url(baseUrl + file.getString("url")).build()).execute().use { r ->
                target.writeBytes(r.body!!.bytes())
            }
            if (sha256(target) != file.optString("sha256")) throw ArtsnapError("checksum_mismatch", "downloaded $key is corrupt")
        }
        return target to latest.getJSONObject("card")
    }

    fun searchPhoto(collection: String, jpeg: ByteArray, labels: List<Label> = emptyList(), topK: Int = 12): JSONObject {
        val options = JSONObject().put("top_k", topK).put("labels", JSONArray(labels.map { JSONObject().put("name", it.name).put("confidence", it.confidence) }))
        val body = MultipartBody.Builder().setType(MultipartBody.FORM)
            .addFormDataPart("image", "photo.jpg", jpeg.toRequestBody("image/jpeg".toMediaType()))
            .addFormDataPart("options", options.toString()).build()
        return call(Request.Builder().url("$baseUrl/v1/collections/$collection/search").post(body).build())
    }

    /** Search with the on-device embedding only: the photo never leaves the phone. */
    fun searchEmbedding(collection: String, embedding: FloatArray, topK: Int = 12): JSONObject {
        val json = JSONObject().put("embedding", JSONArray(embedding.map { it.toDouble() })).put("options", JSONObject().put("top_k", topK))
        return call(Request.Builder().url("$baseUrl/v1/collections/$collection/search")
            .post(json.toString().toRequestBody("application/json".toMediaType())).build())
    }

    private fun sha256(f: File) = MessageDigest.getInstance("SHA-256").digest(f.readBytes()).joinToString("") { "%02x".format(it) }
}
