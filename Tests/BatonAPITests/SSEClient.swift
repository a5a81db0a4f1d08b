import Foundation

/// A Server-Sent Events reader on a raw loopback socket, so a test can drop the connection mid-stream.
final class SSEClient: @unchecked Sendable {
    struct Event: Sendable, Equatable {
        var id: Int64?
        var event: String
        var data: String
    }

    private let fd: Int32
    private let lock = NSLock()
    private var events: [Event] = []
    private var closed = false

    init(port: Int, path: String, token: String, lastEventID: Int64? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw TestFailure("connect failed: \(errno)") }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer \(token)\r\n"
        if let lastEventID { request += "Last-Event-ID: \(lastEventID)\r\n" }
        request += "\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        let thread = Thread { [self] in read() }
        thread.start()
    }

    private func read() {
        var pending = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        var headerDone = false
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            pending += String(decoding: buffer[0..<n], as: UTF8.self)
            if !headerDone {
                guard let end = pending.range(of: "\r\n\r\n") else { continue }
                pending = String(pending[end.upperBound...])
                headerDone = true
            }
            // Chunk-size lines of the chunked encoding end in CRLF, SSE lines in LF; "\r\n" is one Character
            // in Swift, so normalise before splitting. Chunk-size lines then carry no field and are ignored.
            pending = pending.replacingOccurrences(of: "\r\n", with: "\n")
            while let blank = pending.range(of: "\n\n") {
                let block = String(pending[..<blank.lowerBound])
                pending = String(pending[blank.upperBound...])
                var event = Event(id: nil, event: "message", data: "")
                var sawField = false
                for line in block.split(separator: "\n").map({ $0.trimmingCharacters(in: CharacterSet(charactersIn: "\r")) }) {
                    if line.hasPrefix("id: ") { event.id = Int64(line.dropFirst(4)); sawField = true }
                    else if line.hasPrefix("event: ") { event.event = String(line.dropFirst(7)); sawField = true }
                    else if line.hasPrefix("data: ") { event.data += String(line.dropFirst(6)); sawField = true }
                }
                if sawField && (event.id != nil || event.event == "end") { lock.withLock { events.append(event) } }
            }
        }
        lock.withLock { closed = true }
    }

    var received: [Event] { lock.withLock { events } }
    var isClosed: Bool { lock.withLock { closed } }

    func disconnect() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}
