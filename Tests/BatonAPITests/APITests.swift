import Testing

/// Every API suite runs inside this one, one test at a time: each test starts a server and workers with
/// their own connection pools, and side by side with the rest of the suite they would exhaust the test
/// cluster's connection limit.
@Suite(.serialized) struct APITests {}
