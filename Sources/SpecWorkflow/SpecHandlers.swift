import BatonCore

/// The spec workflow's handlers under the names `workflows/spec.yaml` uses.
public enum SpecHandlers {
    public static func register(into registry: inout HandlerRegistry, configuration: SpecConfiguration) {
        registry.register("spec.discover", DiscoverHandler(configuration: configuration))
        registry.register("spec.submit", SubmitHandler(configuration: configuration))
        registry.register("spec.publish", PublishHandler(configuration: configuration))
    }
}
