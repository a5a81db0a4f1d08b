import Hummingbird

/// The request context: Hummingbird's core storage, nothing else (who is calling is passed to handlers).
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Bodies are read by `RequestJSON` with its own 1 MiB limit.
    public var maxUploadSize: Int { RequestJSON.maxBody }
}
