import BatonStore
struct WorkerProtocolController: Sendable { let services: APIServices; let queue: QueueStore; func register(in table: RouteTable) {} }
