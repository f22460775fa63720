// artsnap Android/JVM client core: model updates with verified downloads, search by photo or vector.
//
// Plain JVM + Android API only (java.net.HttpURLConnection, java.security, org.json, kotlinx
// coroutines), so this file compiles and runs its tests against a real artsnap server on the
// build machine, and the same file ships in the app. Every call is a suspend function that does
// its I/O on Dispatchers.IO: call it from a coroutine (lifecycleScope.launch { ... }), never
// blocking the main thread. OkHttp works as well; HttpURLConnection keeps the core dependency-free.
package eu.artsnap.client

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.json.JSONArray
import org.json.JSONObject
import java.io.ByteArrayOutputStream
import java.io.File
import java.io.IOException
import java.io.InputStream
import java.net.HttpURLConnection
import java.net.URL
import java.net.URLEncoder
import java.security.MessageDigest
import java.util.UUID

/** The server answered with an error, or a download failed its check; [code] is machine-readable. */
class ArtsnapError(val status: Int, val code: String, message: String) : IOException("$status $code: $message")

/** One downloadable file of a model, as GET /v1/models/latest describes it. */
class ModelFile(val key: String, json: JSONObject) {
    val name: String = json.getString("name")
    val url: String = json.getString("url")
    val sha256: String? = json.optString("sha256", "").ifEmpty { null }
    val platform: String = json.optString("platform")
    val format: String = json.optString("format")
    val precision: String = json.optString("precision")
    val minRuntime: String? = json.optString("min_runtime", "").ifEmpty { null }
}

/** The answer of GET /v1/models/latest?platform=...: the active model, its card, and this platform's file. */
class LatestModel(val json: JSONObject) {
    val name: String = json.getString("name")
    val version: String = json.getString("version")
    val embeddingSpace: String? = if (json.isNull("embedding_space")) null else json.optString("embedding_space")
    val vectorSearch: Boolean = json.optBoolean("vector_search", false)
    val files: Map<String, ModelFile> = json.getJSONObject("files").let { f -> f.keys().asSequence().associateWith { ModelFile(it, f.getJSONObject(it)) } }
    val delivery: ModelFile? = json.optJSONObject("delivery")?.let { ModelFile(it.getString("key"), it) }

    /** The served card with the registry's name, version and embedding space added (what the app keeps). */
    fun card(): ModelCard = ModelCard(
        JSONObject(json.getJSONObject("card").toString())
            .put("name", name).put("version", version).put("embedding_space", embeddingSpace ?: JSONObject.NULL),
    )
}

/** A verified model file in the app's cache, with its card. */
class DownloadedModel(val file: File, val card: ModelCard, val version: String, val key: String)

class ArtsnapClient(
    baseUrl: String,
    private val codec: ImageCodec,
    private val connectTimeoutMs: Int = 15_000,
    private val readTimeoutMs: Int = 60_000,
) {
    private val base = baseUrl.trimEnd('/')
    private val etags = HashMap<String, Pair<String, JSONObject>>() // query -> (ETag, body)

    // -- models ------------------------------------------------------------------------------

    /** The active model and the file for [platform]; revalidated with its ETag (a 304 costs no body). */
    suspend fun latestModel(platform: String = "android", precision: String? = null): LatestModel = withContext(Dispatchers.IO) {
        val query = "platform=${enc(platform)}" + (precision?.let { "&precision=${enc(it)}" } ?: "")
        val cached = synchronized(etags) { etags[query] }
        val conn = open("/v1/models/latest?$query")
        cached?.let { conn.setRequestProperty("If-None-Match", it.first) }
        conn.useResponse { status ->
            if (status == HttpURLConnection.HTTP_NOT_MODIFIED && cached != null) return@useResponse LatestModel(cached.second)
            val body = JSONObject(readText(conn, status))
            conn.getHeaderField("ETag")?.let { etag -> synchronized(etags) { etags[query] = etag to body } }
            LatestModel(body)
        }
    }

    /**
     * Download this platform's file of the latest model into cacheDir/<version>/, once per version:
     * a file already there with the card's SHA-256 is kept. The download goes to a temporary file
     * whose SHA-256 must equal the server's before it takes the file's place; otherwise it is
     * deleted and [ArtsnapError] "checksum_mismatch" is thrown (nothing unverified is ever loaded).
     */
    suspend fun downloadModel(cacheDir: File, platform: String = "android", precision: String? = null): DownloadedModel {
        val latest = latestModel(platform, precision)
        val file = latest.delivery ?: throw ArtsnapError(404, "no_delivery", "the server named no file for $platform")
        val expected = file.sha256 ?: throw ArtsnapError(502, "no_checksum", "the server gives no SHA-256 for ${file.key}")
        return withContext(Dispatchers.IO) {
            val dir = File(cacheDir, latest.version).apply { mkdirs() }
            val target = File(dir, file.name)
            if (!(target.isFile && sha256(target.inputStream()) == expected)) {
                val part = File(dir, "${file.name}.part")
                try {
                    val got = open(file.url).useResponse { status ->
                        if (status >= 400) readText(conn = this, status = status)
                        inputStream.use { input -> part.outputStream().use { out -> sha256(input, copyTo = out) } }
                    }
                    if (got != expected) {
                        throw ArtsnapError(502, "checksum_mismatch", "downloaded ${file.key} has SHA-256 $got, the server's card says $expected")
                    }
                    if (!part.renameTo(target)) throw IOException("could not move $part to $target")
                } finally {
                    part.delete()
                }
            }
            val card = latest.card()
            File(dir, "model_card.json").writeText(card.json.toString(2))
            DownloadedModel(target, card, latest.version, file.key)
        }
    }

    // -- search ------------------------------------------------------------------------------

    /** Upload the photo (upright, long side at most 1 024 px) and search [collection]. */
    suspend fun searchPhoto(collection: String, photo: ByteArray, labels: List<Label> = emptyList(), topK: Int = 12): JSONObject =
        withContext(Dispatchers.Default) { codec.prepareUpload(photo) }.let { jpeg ->
            withContext(Dispatchers.IO) {
                val options = JSONObject().put("top_k", topK).put("labels", labelsJson(labels))
                val boundary = "artsnap-${UUID.randomUUID()}"
                val body = ByteArrayOutputStream().apply {
                    fun text(s: String) = write(s.toByteArray(Charsets.UTF_8))
                    text("--$boundary\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
                    write(jpeg)
                    text("\r\n--$boundary\r\nContent-Disposition: form-data; name=\"options\"\r\n\r\n$options\r\n--$boundary--\r\n")
                }.toByteArray()
                post(searchPath(collection), "multipart/form-data; boundary=$boundary", body)
            }
        }

    /**
     * Search with the on-device embedding only: the photo never leaves the phone. [embeddingSpace]
     * is the downloaded model's (DownloadedModel.card.embeddingSpace); the server refuses a vector
     * without it or from another model (ArtsnapError "foreign_embedding_space": search by photo).
     */
    suspend fun searchEmbedding(
        collection: String,
        embedding: FloatArray,
        embeddingSpace: String?,
        labels: List<Label> = emptyList(),
        topK: Int = 12,
    ): JSONObject = withContext(Dispatchers.IO) {
        val vector = JSONArray().apply { embedding.forEach { put(it.toDouble()) } }
        val json = JSONObject()
            .put("embedding", vector)
            .put("embedding_space", embeddingSpace ?: JSONObject.NULL)
            .put("options", JSONObject().put("top_k", topK).put("labels", labelsJson(labels)))
        post(searchPath(collection), "application/json", json.toString().toByteArray(Charsets.UTF_8))
    }

    // -- plumbing ----------------------------------------------------------------------------

    private fun searchPath(collection: String) = "/v1/collections/${enc(collection).replace("+", "%20")}/search"

    private fun labelsJson(labels: List<Label>) =
        JSONArray().apply { labels.forEach { put(JSONObject().put("name", it.name).put("confidence", it.confidence.toDouble())) } }

    private fun open(path: String): HttpURLConnection =
        (URL(if (path.startsWith("http")) path else base + path).openConnection() as HttpURLConnection).apply {
            connectTimeout = connectTimeoutMs
            readTimeout = readTimeoutMs
            useCaches = false
        }

    private fun post(path: String, contentType: String, body: ByteArray): JSONObject {
        val conn = open(path)
        conn.requestMethod = "POST"
        conn.doOutput = true
        conn.setRequestProperty("Content-Type", contentType)
        conn.setFixedLengthStreamingMode(body.size)
        conn.outputStream.use { it.write(body) }
        return conn.useResponse { status -> JSONObject(readText(this, status)) }
    }

    private inline fun <T> HttpURLConnection.useResponse(block: HttpURLConnection.(Int) -> T): T =
        try {
            block(responseCode)
        } finally {
            disconnect()
        }

    /** The body as text; an error status becomes ArtsnapError with the API's code and message. */
    private fun readText(conn: HttpURLConnection, status: Int): String {
        if (status < 400) return conn.inputStream.use { it.readBytes().toString(Charsets.UTF_8) }
        val text = conn.errorStream?.use { it.readBytes().toString(Charsets.UTF_8) } ?: ""
        val err = runCatching { JSONObject(text).getJSONObject("error") }.getOrNull()
        throw ArtsnapError(status, err?.optString("code") ?: "http_error", err?.optString("message") ?: text.take(200))
    }

    companion object {
        private fun enc(s: String): String = URLEncoder.encode(s, "UTF-8")

        /** SHA-256 (hex) of a stream, optionally copying it on the way (one pass over a download). */
        fun sha256(input: InputStream, copyTo: java.io.OutputStream? = null): String {
            val digest = MessageDigest.getInstance("SHA-256")
            val buf = ByteArray(1 shl 16)
            input.use {
                while (true) {
                    val n = it.read(buf)
                    if (n < 0) break
                    digest.update(buf, 0, n)
                    copyTo?.write(buf, 0, n)
                }
            }
            return digest.digest().joinToString("") { "%02x".format(it) }
        }
    }
}
