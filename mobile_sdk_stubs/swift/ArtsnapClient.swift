// artsnap iOS client: the Core ML model on the phone, search by photo or by vector.
//
// What it does, as the Python (mobile_sdk_stubs/client.py, on_device.py) and Kotlin clients do:
// - updateModel: GET /v1/models/latest?platform=ios; download the delivery (a zipped .mlpackage)
//   once per version, check its SHA-256 (CryptoKit) before anything else touches it, unzip,
//   compile, load. URLSession's default cache policy revalidates the answer with its ETag.
// - predict: one plain MLModel prediction gives both the labels and the embedding (Vision's
//   VNCoreMLRequest only returns the classification of a classifier model). The photo is turned
//   upright from its EXIF orientation, its shorter side scaled to the card's resize_shorter with
//   Core Image's Lanczos filter (antialiased), centre-cropped to input_size; the model applies
//   the card's mean/std itself (scale/bias on its image input). Top-1 with the card's abstain
//   threshold, as the server and the other clients decide.
// - search(photo:): uploads the photo upright, at most 1 024 px on its long side.
// - search(embedding:embeddingSpace:): the photo never leaves the phone; the server refuses a
//   vector without its space or from another model's space.
//
// No Swift toolchain runs on the Linux build machines, so this file is not compiled there; it uses
// only these public APIs (iOS 16+, the Core ML files' deployment target):
//   URLSession.data(for:), URLSession.download(from:delegate:) (iOS 15), CryptoKit SHA256
//   (update(data:), finalize()), FileHandle.read(upToCount:), MLModel.compileModel(at:) async
//   (iOS 16), MLModel(contentsOf:configuration:), MLModel.prediction(from:),
//   MLFeatureValue(cgImage:constraint:options:), MLDictionaryFeatureProvider(dictionary:),
//   CIImage(data:options: [.applyOrientationProperty: true]), CIFilter.lanczosScaleTransform(),
//   CIContext.createCGImage(_:from:), CGImageSourceCreateThumbnailAtIndex with
//   kCGImageSourceCreateThumbnailWithTransform (applies CGImagePropertyOrientation),
//   CGImageDestinationCreateWithData / AddImage / Finalize.
// tests/clients/test_swift_client.py checks that the card keys and Core ML feature names used here
// are the ones a real exported model has.

import CoreImage
import CoreImage.CIFilterBuiltins
import CoreML
import CryptoKit
import Foundation
import ImageIO
import UniformTypeIdentifiers

public struct ArtsnapLabel: Codable, Equatable, Sendable {
    public let name: String
    public let confidence: Double
}

/// One file of a model (`delivery` in GET /v1/models/latest?platform=ios).
public struct ArtsnapModelFile: Decodable, Sendable {
    public let key: String?
    public let name: String
    public let url: String
    public let sha256: String?
    public let minRuntime: String?

    enum CodingKeys: String, CodingKey { case key, name, url, sha256, minRuntime = "min_runtime" }
}

/// The parts of the model card this client reads.
public struct ArtsnapCard: Decodable, Sendable {
    public struct Preprocessing: Decodable, Sendable {
        public let inputSize: Int
        public let resizeShorter: Int
        enum CodingKeys: String, CodingKey { case inputSize = "input_size", resizeShorter = "resize_shorter" }
    }

    public struct Extra: Decodable, Sendable {
        public let multiLabel: Bool?
        public let abstainThreshold: Double?
        public let labelThresholds: [Double]?
        enum CodingKeys: String, CodingKey {
            case multiLabel = "multi_label", abstainThreshold = "abstain_threshold", labelThresholds = "label_thresholds"
        }
    }

    public let labels: [String]
    public let preprocessing: Preprocessing
    public let extra: Extra
}

public struct ArtsnapModel: Decodable, Sendable {
    public let name: String
    public let version: String
    public let embeddingSpace: String?
    public let delivery: ArtsnapModelFile?
    public let card: ArtsnapCard

    enum CodingKeys: String, CodingKey { case name, version, delivery, card, embeddingSpace = "embedding_space" }
}

public struct ArtsnapHit: Decodable, Sendable {
    public let id: Int
    public let sourcePath: String
    public let score: Double
    public let thumbnailURL: String?
    enum CodingKeys: String, CodingKey { case id, score, sourcePath = "source_path", thumbnailURL = "thumbnail_url" }
}

public struct ArtsnapSearchResponse: Decodable, Sendable {
    public let collection: String
    public let results: [ArtsnapHit]
}

public struct OnDeviceResult: Sendable {
    public let labels: [ArtsnapLabel]  // empty = "none of these categories"
    public let embedding: [Float]  // L2-normalised; send it with `embeddingSpace`
    public let embeddingSpace: String?
}

public enum ArtsnapError: Error {
    case server(status: Int, code: String, message: String)
    case checksumMismatch(expected: String, got: String)
    case noChecksum, noModel, badResponse, badImage
}

public actor ArtsnapClient {
    public static let uploadMaxSide = 1024

    private let baseURL: URL
    private let session: URLSession
    private let ciContext = CIContext()
    private var model: MLModel?
    private var current: ArtsnapModel?

    /// Foundation has no unzip API on iOS: the app passes one (e.g. ZIPFoundation's
    /// `FileManager.unzipItem`) that extracts the archive into the folder and returns the `.mlpackage`.
    private let unzip: @Sendable (_ archive: URL, _ into: URL) throws -> URL

    public init(baseURL: URL, session: URLSession = .shared, unzip: @escaping @Sendable (URL, URL) throws -> URL) {
        self.baseURL = baseURL
        self.session = session
        self.unzip = unzip
    }

    // MARK: models

    /// The latest model for iOS, downloaded and verified once per version into `cacheDir/<version>/`.
    @discardableResult
    public func updateModel(cacheDir: URL) async throws -> ArtsnapModel {
        var components = URLComponents(url: baseURL.appendingPathComponent("v1/models/latest"), resolvingAgainstBaseURL: false)!
        components.queryItems = [URLQueryItem(name: "platform", value: "ios")]
        let (data, resp) = try await session.data(for: URLRequest(url: components.url!))
        try Self.check(data, resp)
        let latest = try JSONDecoder().decode(ArtsnapModel.self, from: data)
        guard let file = latest.delivery else { throw ArtsnapError.noModel }
        guard let expected = file.sha256 else { throw ArtsnapError.noChecksum }
        let dir = cacheDir.appendingPathComponent(latest.version, isDirectory: true)
        let compiled = dir.appendingPathComponent("model.mlmodelc", isDirectory: true)
        if !FileManager.default.fileExists(atPath: compiled.path) {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let (archive, zresp) = try await session.download(from: URL(string: file.url, relativeTo: baseURL)!)
            defer { try? FileManager.default.removeItem(at: archive) }
            try Self.check(nil, zresp)
            let got = try Self.sha256(of: archive)
            guard got == expected else { throw ArtsnapError.checksumMismatch(expected: expected, got: got) }
            let package = try unzip(archive, dir)
            let temporary = try await MLModel.compileModel(at: package)
            try FileManager.default.moveItem(at: temporary, to: compiled)
            try? FileManager.default.removeItem(at: package)
        }
        model = try MLModel(contentsOf: compiled, configuration: MLModelConfiguration())
        current = latest
        return latest
    }

    /// SHA-256 of a file, read in 1 MB chunks.
    static func sha256(of url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    // MARK: on the device

    /// Labels (top-1 over the abstain threshold) and the embedding of a photo file (JPEG/HEIC bytes).
    public func predict(photo: Data) throws -> OnDeviceResult {
        guard let model, let current else { throw ArtsnapError.noModel }
        let card = current.card
        let input = try modelInput(photo: photo, card: card)
        guard let constraint = model.modelDescription.inputDescriptionsByName["image"]?.imageConstraint else {
            throw ArtsnapError.badResponse
        }
        let features = try MLDictionaryFeatureProvider(dictionary: [
            "image": try MLFeatureValue(cgImage: input, constraint: constraint, options: nil),
        ])
        let out = try model.prediction(from: features)
        let probabilities: [Double]
        if let byLabel = out.featureValue(for: "label_probs")?.dictionaryValue {  // single-label classifier
            probabilities = card.labels.map { byLabel[$0]?.doubleValue ?? 0 }
        } else if let array = out.featureValue(for: "probabilities")?.multiArrayValue {  // multi-label
            probabilities = (0..<array.count).map { array[$0].doubleValue }
        } else {
            throw ArtsnapError.badResponse
        }
        guard let emb = out.featureValue(for: "embedding")?.multiArrayValue else { throw ArtsnapError.badResponse }
        let embedding = (0..<emb.count).map { emb[$0].floatValue }
        return OnDeviceResult(labels: Self.decide(probabilities, card: card), embedding: embedding, embeddingSpace: current.embeddingSpace)
    }

    /// The card's decision rule: single-label, the top-1 label if it reaches abstain_threshold, else
    /// none; multi-label, every label over its own threshold.
    static func decide(_ p: [Double], card: ArtsnapCard) -> [ArtsnapLabel] {
        if card.extra.multiLabel == true {
            let thresholds = card.extra.labelThresholds ?? []
            return card.labels.indices
                .filter { p[$0] >= (thresholds.indices.contains($0) ? thresholds[$0] : 0.5) }
                .map { ArtsnapLabel(name: card.labels[$0], confidence: p[$0]) }
                .sorted { $0.confidence > $1.confidence }
        }
        guard let best = p.indices.max(by: { p[$0] < p[$1] }), p[best] >= (card.extra.abstainThreshold ?? 0) else { return [] }
        return [ArtsnapLabel(name: card.labels[best], confidence: p[best])]
    }

    /// Upright (EXIF orientation applied), shorter side to resize_shorter (Lanczos), centre input_size square.
    private func modelInput(photo: Data, card: ArtsnapCard) throws -> CGImage {
        guard let upright = CIImage(data: photo, options: [.applyOrientationProperty: true]) else { throw ArtsnapError.badImage }
        let pre = card.preprocessing
        let scale = Double(pre.resizeShorter) / Double(min(upright.extent.width, upright.extent.height))
        let filter = CIFilter.lanczosScaleTransform()
        filter.inputImage = upright
        filter.scale = Float(scale)
        filter.aspectRatio = 1
        guard let scaled = filter.outputImage else { throw ArtsnapError.badImage }
        let side = CGFloat(pre.inputSize)
        let crop = CGRect(
            x: (scaled.extent.minX + (scaled.extent.width - side) / 2).rounded(.down),
            y: (scaled.extent.minY + (scaled.extent.height - side) / 2).rounded(.down),
            width: side, height: side)
        guard let image = ciContext.createCGImage(scaled, from: crop) else { throw ArtsnapError.badImage }
        return image
    }

    // MARK: search

    /// Upload the photo (upright, long side at most 1 024 px, JPEG) and search `collection`.
    public func search(collection: String, photo: Data, labels: [ArtsnapLabel] = [], topK: Int = 12) async throws -> ArtsnapSearchResponse {
        let jpeg = try Self.prepareUpload(photo)
        let boundary = "artsnap-\(UUID().uuidString)"
        var req = URLRequest(url: baseURL.appendingPathComponent("v1/collections/\(collection)/search"))
        req.httpMethod = "POST"
        req.setValue("multipart/form-data; boundary=\(boundary)", forHTTPHeaderField: "Content-Type")
        let options: [String: Any] = ["top_k": topK, "labels": Self.labelsJSON(labels)]
        var body = Data()
        func part(_ header: String, _ payload: Data) {
            body.append(Data("--\(boundary)\r\n\(header)\r\n\r\n".utf8))
            body.append(payload)
            body.append(Data("\r\n".utf8))
        }
        part("Content-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg", jpeg)
        part("Content-Disposition: form-data; name=\"options\"", try JSONSerialization.data(withJSONObject: options))
        body.append(Data("--\(boundary)--\r\n".utf8))
        req.httpBody = body
        let (data, resp) = try await session.data(for: req)
        try Self.check(data, resp)
        return try JSONDecoder().decode(ArtsnapSearchResponse.self, from: data)
    }

    /// Search with the embedding computed on the phone (`predict(photo:)`): the photo never leaves the device.
    public func search(collection: String, embedding: [Float], embeddingSpace: String?, labels: [ArtsnapLabel] = [], topK: Int = 12) async throws -> ArtsnapSearchResponse {
        var req = URLRequest(url: baseURL.appendingPathComponent("v1/collections/\(collection)/search"))
        req.httpMethod = "POST"
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let options: [String: Any] = ["top_k": topK, "labels": Self.labelsJSON(labels)]
        let body: [String: Any] = [
            "embedding": embedding.map { Double($0) },
            "embedding_space": embeddingSpace.map { $0 as Any } ?? NSNull(),
            "options": options,
        ]
        req.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (data, resp) = try await session.data(for: req)
        try Self.check(data, resp)
        return try JSONDecoder().decode(ArtsnapSearchResponse.self, from: data)
    }

    /// The photo upright and at most `uploadMaxSide` px on its long side, as JPEG: ImageIO's thumbnail
    /// path decodes at a reduced size, applies the EXIF orientation and downsamples.
    static func prepareUpload(_ photo: Data) throws -> Data {
        guard let source = CGImageSourceCreateWithData(photo as CFData, nil) else { throw ArtsnapError.badImage }
        let options: [CFString: Any] = [
            kCGImageSourceCreateThumbnailFromImageAlways: true,
            kCGImageSourceCreateThumbnailWithTransform: true,
            kCGImageSourceThumbnailMaxPixelSize: uploadMaxSide,
        ]
        guard let image = CGImageSourceCreateThumbnailAtIndex(source, 0, options as CFDictionary) else { throw ArtsnapError.badImage }
        let out = NSMutableData()
        guard let dest = CGImageDestinationCreateWithData(out, UTType.jpeg.identifier as CFString, 1, nil) else { throw ArtsnapError.badImage }
        CGImageDestinationAddImage(dest, image, [kCGImageDestinationLossyCompressionQuality: 0.9] as CFDictionary)
        guard CGImageDestinationFinalize(dest) else { throw ArtsnapError.badImage }
        return out as Data
    }

    private static func labelsJSON(_ labels: [ArtsnapLabel]) -> [[String: Any]] {
        labels.map { ["name": $0.name, "confidence": $0.confidence] as [String: Any] }
    }

    private static func check(_ data: Data?, _ resp: URLResponse) throws {
        guard let http = resp as? HTTPURLResponse else { throw ArtsnapError.badResponse }
        guard http.statusCode < 400 else {
            let body = data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            let err = body?["error"] as? [String: Any]
            throw ArtsnapError.server(status: http.statusCode, code: err?["code"] as? String ?? "http_error", message: err?["message"] as? String ?? "")
        }
    }
}
