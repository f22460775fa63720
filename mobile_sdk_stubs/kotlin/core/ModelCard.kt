// The model card as the Kotlin client reads it: every preprocessing number and the decision
// rule come from here (model_card.json, served by GET /v1/models/latest), never from constants.
// JVM core: compiles and runs on a plain JVM (tests) and on Android (org.json is in the platform).
package eu.artsnap.client

import org.json.JSONArray
import org.json.JSONObject

/** The card's "preprocessing": shorter side to [resizeShorter], centre [inputSize] square, (x - mean) / std. */
class Preprocessing(
    val inputSize: Int,
    val resizeShorter: Int,
    val mean: FloatArray,
    val std: FloatArray,
) {
    companion object {
        fun fromJson(p: JSONObject): Preprocessing {
            require(p.optString("interpolation", "bilinear") == "bilinear") {
                "this client resizes with the bilinear (antialiased) filter; the card asks for ${p.optString("interpolation")}"
            }
            require(p.optString("color_order", "RGB") == "RGB") { "this client feeds RGB" }
            return Preprocessing(p.getInt("input_size"), p.getInt("resize_shorter"), floats(p.getJSONArray("mean")), floats(p.getJSONArray("std")))
        }

        private fun floats(a: JSONArray) = FloatArray(a.length()) { a.getDouble(it).toFloat() }
    }
}

/** A label the model gave, with its calibrated probability. */
data class Label(val name: String, val confidence: Float)

/** What the phone's model says about a photo: decided labels (empty = "none of these") and the embedding. */
class OnDeviceResult(val labels: List<Label>, val probabilities: FloatArray, val embedding: FloatArray, val embeddingSpace: String?)

class ModelCard(val json: JSONObject) {
    val name: String = json.optString("name")
    val version: String = json.optString("version")
    val labels: List<String> = json.getJSONArray("labels").let { a -> List(a.length()) { a.getString(it) } }
    val preprocessing: Preprocessing = Preprocessing.fromJson(json.getJSONObject("preprocessing"))
    private val extra: JSONObject = json.optJSONObject("extra") ?: JSONObject()
    val multiLabel: Boolean = extra.optBoolean("multi_label", false)
    val abstainThreshold: Float = extra.optDouble("abstain_threshold", 0.0).toFloat()
    val labelThresholds: FloatArray =
        extra.optJSONArray("label_thresholds")?.let { a -> FloatArray(a.length()) { a.getDouble(it).toFloat() } } ?: FloatArray(0)

    /** The space the model's embedding lives in (the server adds it to the card it serves); send it with vectors. */
    val embeddingSpace: String? = if (json.isNull("embedding_space")) null else json.optString("embedding_space", "").ifEmpty { null }

    /** Length of the "embedding" output. */
    val embeddingSize: Int = json.getJSONArray("outputs").let { outs ->
        (0 until outs.length()).map { outs.getJSONObject(it) }.first { it.getString("name") == "embedding" }
            .getJSONArray("shape").let { it.getInt(it.length() - 1) }
    }

    /**
     * The card's decision rule, as the server applies it: single-label, the top-1 label if its
     * probability reaches abstain_threshold, else nothing; multi-label, every label over its threshold.
     */
    fun decide(probabilities: FloatArray): List<Label> {
        require(probabilities.size == labels.size) { "expected ${labels.size} probabilities, got ${probabilities.size}" }
        if (multiLabel) {
            return labels.indices
                .filter { probabilities[it] >= (labelThresholds.getOrNull(it) ?: 0.5f) }
                .map { Label(labels[it], probabilities[it]) }
                .sortedByDescending { it.confidence }
        }
        val best = probabilities.indices.maxByOrNull { probabilities[it] } ?: return emptyList()
        return if (probabilities[best] >= abstainThreshold) listOf(Label(labels[best], probabilities[best])) else emptyList()
    }
}
