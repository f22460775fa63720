// The Kotlin client, driven by the tests (tests/clients/test_kotlin_client.py): runs the steps of
// a JSON plan against a real artsnap server and prints one JSON result per step, so pytest can
// compare what the Kotlin code did with the Python client, the server and the model files.
//
//   java -cp ... eu.artsnap.client.check.ClientCheckKt plan.json
package eu.artsnap.client.check

import eu.artsnap.client.ArtsnapClient
import eu.artsnap.client.ArtsnapError
import eu.artsnap.client.Label
import eu.artsnap.client.ModelCard
import eu.artsnap.client.RgbImage
import eu.artsnap.client.jvm.JvmImageCodec
import eu.artsnap.client.modelInput
import eu.artsnap.client.prepareUpload
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

fun main(args: Array<String>) = runBlocking {
    val plan = JSONObject(File(args[0]).readText())
    val codec = JvmImageCodec()
    val client = ArtsnapClient(plan.getString("base_url"), codec)
    val results = JSONArray()
    val steps = plan.getJSONArray("steps")
    for (i in 0 until steps.length()) {
        val step = steps.getJSONObject(i)
        val result = try {
            when (step.getString("op")) {
                "download" -> {
                    val m = client.downloadModel(File(step.getString("cache")), step.getString("platform"), step.optString("precision", "").ifEmpty { null })
                    JSONObject().put("path", m.file.path).put("sha256", ArtsnapClient.sha256(m.file.inputStream()))
                        .put("version", m.version).put("key", m.key).put("embedding_space", m.card.embeddingSpace ?: JSONObject.NULL)
                        .put("labels", JSONArray(m.card.labels)).put("abstain_threshold", m.card.abstainThreshold.toDouble())
                }
                "input" -> {
                    val card = ModelCard(JSONObject(File(step.getString("card")).readText()))
                    val x = codec.modelInput(File(step.getString("photo")).readBytes(), card.preprocessing)
                    writeFloats(File(step.getString("out")), x)
                    JSONObject().put("size", x.size)
                }
                "decide" -> {
                    val card = ModelCard(JSONObject(File(step.getString("card")).readText()))
                    val p = step.getJSONArray("probabilities").let { a -> FloatArray(a.length()) { a.getDouble(it).toFloat() } }
                    JSONObject().put("labels", JSONArray(card.decide(p).map { JSONObject().put("name", it.name).put("confidence", it.confidence.toDouble()) }))
                }
                "orient" -> {
                    val w = step.getInt("width")
                    val h = step.getInt("height")
                    val raw = File(step.getString("raw")).readBytes()
                    val img = RgbImage(w, h, IntArray(w * h) { j -> (0xFF shl 24) or ((raw[3 * j].toInt() and 0xFF) shl 16) or ((raw[3 * j + 1].toInt() and 0xFF) shl 8) or (raw[3 * j + 2].toInt() and 0xFF) })
                    val out = img.oriented(step.getInt("orientation"))
                    File(step.getString("out")).writeBytes(ByteArray(out.argb.size * 3) { j -> (out.argb[j / 3] shr (16 - 8 * (j % 3)) and 0xFF).toByte() })
                    JSONObject().put("width", out.width).put("height", out.height)
                }
                "upload" -> {
                    val jpeg = codec.prepareUpload(File(step.getString("photo")).readBytes())
                    File(step.getString("out")).writeBytes(jpeg)
                    JSONObject().put("bytes", jpeg.size)
                }
                "search_photo" -> JSONObject().put(
                    "response",
                    client.searchPhoto(step.getString("collection"), File(step.getString("photo")).readBytes(), topK = step.optInt("top_k", 5)),
                )
                "search_vector" -> {
                    val v = step.getJSONArray("vector").let { a -> FloatArray(a.length()) { a.getDouble(it).toFloat() } }
                    val space = if (step.isNull("space")) null else step.getString("space")
                    val labels = step.optJSONArray("labels")?.let { a -> List(a.length()) { Label(a.getString(it), 1f) } } ?: emptyList()
                    JSONObject().put("response", client.searchEmbedding(step.getString("collection"), v, space, labels, topK = step.optInt("top_k", 5)))
                }
                else -> throw IllegalArgumentException("unknown op ${step.getString("op")}")
            }.put("ok", true)
        } catch (e: ArtsnapError) {
            JSONObject().put("ok", false).put("error", JSONObject().put("status", e.status).put("code", e.code).put("message", e.message))
        }
        results.put(result)
    }
    println(results.toString())
}

private fun writeFloats(file: File, x: FloatArray) {
    val buf = ByteBuffer.allocate(4 * x.size).order(ByteOrder.LITTLE_ENDIAN)
    x.forEach { buf.putFloat(it) }
    file.writeBytes(buf.array())
}
