// artsnap iOS client: on-device labelling with the Core ML package, search by photo or by vector.
//
// Preprocessing is not hard-coded: the exported .mlpackage has the normalisation baked in
// (scale/bias on its image input) and Vision's `.centerCrop` is the card's "resize shorter side,
// centre crop". The input size and labels come from the model card / the model itself.
// Not compiled in this repository's CI (no Swift toolchain on Linux build machines); the Python
// reference client in mobile_sdk_stubs/ runs the same steps in the tests.

import CoreML
import Foundation
import Vision

public struct ArtsnapLabel: Codable { public let name: String; public let confidence: Double }

public struct ArtsnapHit: Codable {
    public let id: Int
    public let source_path: String
    public let score: Double
    public let reasons: [String]?
    public let thumbnail_url: String?
}

public struct ArtsnapSearchResponse: Codable { public let collection: String; public let results: [ArtsnapHit] }

public struct ArtsnapModelFile: Codable { public let name: String; public let url: String; public let sha256: String? }

public struct ArtsnapModel: Codable {
    public let name: String
    public let version: String
    public let files: [String: ArtsnapModelFile]
}

public enum ArtsnapError: Error { case server(code: String, message: String), badResponse, noModel }

public final class ArtsnapClient {
    private let baseURL: URL
    private let session: URLSession
    private var model: VNCoreMLModel?
    private var abstainThreshold: Double = 0

    /// Foundation has no unzip API on iOS: the app passes its unzip function (e.g. ZIPFoundation's
    /// `FileManager.unzipItem`), which extracts the archive into the folder and returns the
    /// `.mlpackage` inside it.
    private let unzip: (_ archive: URL, _ into: URL) throws -> URL

    public init(baseURL: URL, session: URLSession = .shared, unzip: @escaping (URL, URL) throws -> URL) {
        self.baseURL = baseURL; self.session = session; self.unzip = unzip
    }

    // MARK: models

    /// Ask for the latest model; download and compile the zipped .mlpackage when the version is new.
    public func updateModel(cacheDir: URL) async throws -> String {
        let (data, resp) = try await session.data(from: baseURL.appendingPathComponent("v1/models/latest"))
        try Self.check(data, resp)
        let latest = try JSONDecoder().decode(ArtsnapModel.self, from: data)
        guard let file = latest.files["coreml_fp16"] ?? latest.files["coreml_int8"] else { throw ArtsnapError.noModel }
        let dir = cacheDir.appendingPathComponent(latest.version, isDirectory: true)
        let compiled = dir.appendingPathComponent("classifier.mlmodelc")
        if !FileManager.default.fileExists(atPath: compiled.path) {
            let (zipURL, zresp) = try await session.download(from: URL(string: file.url, relativeTo: baseURL)!)
            try Self.check(nil, zresp)
            let pkg = try unzip(zipURL, dir)
            let tmp = try await MLModel.compileModel(at: pkg)
            try FileManager.default.moveItem(at: tmp, to: compiled)
        }
        let ml = try MLModel(contentsOf: compiled)
        // The card travels inside the package as user-defined metadata.
        let meta = ml.modelDescription.metadata[.creatorDefinedKey] as? [String: String] ?? [:]
        abstainThreshold = Double(meta["artsnap.abstain_threshold"] ?? "0") ?? 0
        model = try VNCoreMLModel(for: ml)
        return latest.version
    }

    /// Labels the phone's model gives a photo ("none of these" when below the abstain threshold).
    public func labels(for image: CGImage, orientation: CGImagePropertyOrientation) throws -> [ArtsnapLabel] {
        guard let model else { throw ArtsnapError.noModel }
        let request = VNCoreMLRequest(model: model)
        request.imageCropAndScaleOption = .centerCrop  // = the card's resize-shorter-side + centre crop
        try VNImageRequestHandler(cgImage: image, orientation: orientation).perform([request])
        let obs = (request.results as? [VNClassificationObservation]) ?? []
        return obs.prefix(3)
            .filter { Double($0.confidence) >= abstainThreshold }
            .map { ArtsnapLabel(name: $0.identifier, confidence: Double($0.confidence)) }
    }

    // MARK: search

    public func search(collection: String, jpeg: Data, labels: [ArtsnapLabel] = [], topK: Int = 12) async throws -> ArtsnapSearchResponse {
        var req = URLRequest(url: baseURL.appendingPathComponent("v1/collections/\(collection)/search"))
        req.httpMethod = "POST"
        let boundary = "artsnap-\(UUID().uuidString)"
        req.setValue("multipart/form-data; boundary=\(boundary)", forHTTPHeaderField: "Content-Type")
        let options: [String: Any] = ["top_k": topK, "labels": labels.map { ["name": $0.name, "confidence": $0.confidence] }]
        var body = Data()
        func part(_ header: String, _ payload: Data) {
            body.append("--\(boundary)\r\n\(header)\r\n\r\n".data(using: .utf8)!)
            body.append(payload); body.append("\r\n".data(using: .utf8)!)
        }
        part("Content-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg", jpeg)
        part("Content-Disposition: form-data; name=\"options\"", try JSONSerialization.data(withJSONObject: options))
        body.append("--\(boundary)--\r\n".data(using: .utf8)!)
        req.httpBody = body
        let (data, resp) = try await session.data(for: req)
        try Self.check(data, resp)
        return try JSONDecoder().decode(ArtsnapSearchResponse.self, from: data)
    }

    /// Search with the embedding computed on the phone: the photo never leaves the device.
    public func search(collection: String, embedding: [Float], topK: Int = 12) async throws -> ArtsnapSearchResponse {
        var req = URLRequest(url: baseURL.appendingPathComponent("v1/collections/\(collection)/search"))
        req.httpMethod = "POST"
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        req.httpBody = try JSONSerialization.data(withJSONObject: ["embedding": embedding, "options": ["top_k": topK]])
        let (data, resp) = try await session.data(for: req)
        try Self.check(data, resp)
        return try JSONDecoder().decode(ArtsnapSearchResponse.self, from: data)
    }

    private static func check(_ data: Data?, _ resp: URLResponse) throws {
        guard let http = resp as? HTTPURLResponse else { throw ArtsnapError.badResponse }
        guard http.statusCode < 400 else {
            if let data, let obj = try? JSONSerialization.jsonObject(with: data) as? [String: [String: String]],
               let err = obj["error"] { throw ArtsnapError.server(code: err["code"] ?? "", message: err["message"] ?? "") }
            throw ArtsnapError.badResponse
        }
    }
}
