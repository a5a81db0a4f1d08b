import CLibCurl
import Foundation

/// An HTTP request: method, URL, headers, optional body, and how long it may take in all.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: Data?
    /// A file sent as the body, streamed from disk as curl asks for it (with its size as `Content-Length`), so that
    /// large bodies never sit in memory. Ignored when `body` is set.
    public var bodyFile: String?
    public var timeout: Duration

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: Data? = nil,
                bodyFile: String? = nil, timeout: Duration = .seconds(30)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.bodyFile = bodyFile
        self.timeout = timeout
    }
}

/// A response: status, headers (names lower-cased, in order) and body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name == lowered }?.value
    }
}

/// A transfer that did not produce a response: the libcurl call and code, and curl's message.
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    public var function: String
    /// The `CURLcode`, e.g. 7 (could not connect), 28 (timed out); 0 when the request was refused before curl.
    public var code: Int
    public var message: String

    public var isTimeout: Bool { code == Int(CURLE_OPERATION_TIMEDOUT.rawValue) }
    public var description: String { "\(function) failed (curl code \(code)): \(message)" }
}

/// A small HTTP client over libcurl. Each request gets its own easy handle on a thread of its own, so the
/// blocking transfer never occupies Swift's cooperative pool.
///
/// Plain `http://` is allowed only for loopback hosts (local stand-ins); everything else must be `https://`.
public struct HTTPClient: Sendable {
    public init() { _ = HTTPClient.globalInit }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Self.checkScheme(request.url)
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try Transfer(request: request).perform() })
            }
            thread.name = "baton.http"
            thread.start()
        }
    }

    static func checkScheme(_ url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), let host = components.host else {
            throw HTTPError(function: "HTTPClient.send", code: 0, message: "not an absolute URL")
        }
        if scheme == "https" { return }
        let loopback = host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
        guard scheme == "http", loopback else {
            throw HTTPError(function: "HTTPClient.send", code: 0,
                            message: "\(scheme):// to \(host) refused: only https, or plain http to a loopback address, is allowed")
        }
    }
}

/// One transfer: owns the easy handle and the header list, frees both when done.
private final class Transfer {
    let request: HTTPRequest
    let handle: UnsafeMutableRawPointer
    var headerList: UnsafeMutablePointer<curl_slist>?
    var body = Data()
    var headerLines: [String] = []
    /// The open `bodyFile`, read by curl's read callback.
    var upload: UnsafeMutablePointer<FILE>?
    /// curl writes error details here during `curl_easy_perform`, so it must outlive the call.
    let errorBuffer: UnsafeMutablePointer<CChar>

    init(request: HTTPRequest) throws {
        guard let handle = curl_easy_init() else {
            throw HTTPError(function: "curl_easy_init", code: 0, message: "could not create a transfer handle")
        }
        self.request = request
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        if let upload { fclose(upload) }
        errorBuffer.deallocate()
    }

    func perform() throws -> HTTPResponse {
        try set(CURLOPT_URL, request.url)
        try set(CURLOPT_PROTOCOLS_STR, "http,https")
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_TIMEOUT_MS, Int(request.timeout.components.seconds * 1000 + request.timeout.components.attoseconds / 1_000_000_000_000_000))
        try set(CURLOPT_CONNECTTIMEOUT_MS, 10_000)
        try set(CURLOPT_FOLLOWLOCATION, 0)
        try set(CURLOPT_CUSTOMREQUEST, request.method)
        if request.method == "HEAD" { try set(CURLOPT_NOBODY, 1) }
        for header in request.headers {
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        // Without a body curl would send none; `Expect: 100-continue` only adds a round trip.
        headerList = curl_slist_append(headerList, "Expect:")
        try check(baton_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList), "curl_easy_setopt(HTTPHEADER)")
        try check(baton_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), "curl_easy_setopt(ERRORBUFFER)")

        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(baton_curl_setopt_write_function(handle) { pointer, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            transfer.body.append(UnsafeRawPointer(pointer!).assumingMemoryBound(to: UInt8.self), count: size * count)
            return size * count
        }, "curl_easy_setopt(WRITEFUNCTION)")
        try check(baton_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, me), "curl_easy_setopt(WRITEDATA)")
        try check(baton_curl_setopt_header_function(handle) { pointer, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let line = String(decoding: UnsafeRawBufferPointer(start: pointer, count: size * count), as: UTF8.self)
            transfer.headerLines.append(line.trimmingCharacters(in: .whitespacesAndNewlines))
            return size * count
        }, "curl_easy_setopt(HEADERFUNCTION)")
        try check(baton_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, me), "curl_easy_setopt(HEADERDATA)")

        if request.body == nil, let path = request.bodyFile { try streamBody(from: path, context: me) }

        let payload = request.body ?? Data()
        return try payload.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> HTTPResponse in
            if request.body != nil {
                try set(CURLOPT_POSTFIELDSIZE, payload.count)
                try check(baton_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)),
                          "curl_easy_setopt(POSTFIELDS)")
            }
            try check(curl_easy_perform(handle), "curl_easy_perform")
            var status = 0
            try check(baton_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status), "curl_easy_getinfo(RESPONSE_CODE)")
            return HTTPResponse(status: status, headers: parsedHeaders(), body: body)
        }
    }

    /// Sends the file at `path` as a POST body of its current size, read in curl's chunks.
    private func streamBody(from path: String, context: UnsafeMutableRawPointer) throws {
        guard let file = fopen(path, "rb") else {
            throw HTTPError(function: "fopen", code: 0, message: "cannot open the body file \(path): \(String(cString: strerror(errno)))")
        }
        upload = file
        var info = stat()
        guard fstat(fileno(file), &info) == 0 else {
            throw HTTPError(function: "fstat", code: 0, message: "cannot read the size of \(path): \(String(cString: strerror(errno)))")
        }
        try set(CURLOPT_POST, 1)
        try check(baton_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(info.st_size)), "curl_easy_setopt(POSTFIELDSIZE_LARGE)")
        try check(baton_curl_setopt_read_function(handle) { buffer, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            return fread(buffer, 1, size * count, transfer.upload)
        }, "curl_easy_setopt(READFUNCTION)")
        try check(baton_curl_setopt_pointer(handle, CURLOPT_READDATA, context), "curl_easy_setopt(READDATA)")
    }

    /// Headers of the last response only (a 100 Continue or redirect starts a new block).
    private func parsedHeaders() -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        for line in headerLines {
            if line.hasPrefix("HTTP/") { headers.removeAll(); continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].trimmingCharacters(in: .whitespaces).lowercased(),
                            line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return headers
    }

    private func set(_ option: CURLoption, _ value: String) throws {
        try check(baton_curl_setopt_string(handle, option, value), "curl_easy_setopt(\(option.rawValue))")
    }

    private func set(_ option: CURLoption, _ value: Int) throws {
        try check(baton_curl_setopt_long(handle, option, value), "curl_easy_setopt(\(option.rawValue))")
    }

    private func check(_ code: CURLcode, _ function: String) throws {
        guard code != CURLE_OK else { return }
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        throw HTTPError(function: function, code: Int(code.rawValue), message: message)
    }
}
