// Backend.Remote tests of the C# binding (ABI 1.3), without a server: every failure the library
// can tell at create names what it was given, which proves that each Config setting reaches
// lm_config; and the remote counters of the stats.

using System;
using System.Collections.Generic;
using Lmbatch;

namespace Lmbatch.Tests
{
    internal static partial class Program
    {
        // Nothing listens on the discard port of the loopback address: each connection is refused.
        private const string DeadEndpoint = "http://127.0.0.1:9", DeadEndpoint2 = "http://127.0.0.1:10";

        private static Config Remote(Config c)
        {
            c.Backend = Backend.Remote;
            c.RemoteConnectTimeout = TimeSpan.FromMilliseconds(200);
            return c;
        }

        private static void RemoteCreateFailuresNameWhatTheyWereGiven()
        {
            var cases = new[]
            {
                Tuple.Create("one dead endpoint", Remote(new Config { RemoteEndpoints = new[] { DeadEndpoint } }),
                    Status.BackendUnavailable, new[] { DeadEndpoint }),
                // Both named: the list reached the library as two endpoints.
                Tuple.Create("two dead endpoints", Remote(new Config
                {
                    RemoteEndpoints = new List<string> { DeadEndpoint, DeadEndpoint2 },
                    RemoteModel = "face_landmark_u8",
                    RemoteModelVersion = "1",
                    RemoteTimeout = TimeSpan.FromSeconds(1),
                    RemoteHeaders = new[] { "authorization: Bearer x", "x-tenant: 7" },
                }), Status.BackendUnavailable, new[] { DeadEndpoint + ": ", DeadEndpoint2 + ": " }),
                Tuple.Create("no endpoints", Remote(new Config()), Status.InvalidArgument, new[] { "remote_endpoints" }),
                Tuple.Create("empty endpoint entries", Remote(new Config { RemoteEndpoints = new[] { "", "" } }),
                    Status.InvalidArgument, new[] { "remote_endpoints" }),
                Tuple.Create("not http", Remote(new Config { RemoteEndpoints = new[] { "ftp://127.0.0.1:9" } }),
                    Status.InvalidArgument, new[] { "ftp://127.0.0.1:9" }),
                // The second line alone is refused: the lines reached the library one per line.
                Tuple.Create("header line without a colon", Remote(new Config
                {
                    RemoteEndpoints = new[] { DeadEndpoint },
                    RemoteHeaders = new[] { "x-tenant: 7", "nocolon" },
                }), Status.InvalidArgument, new[] { "line \"nocolon\"" }),
                Tuple.Create("missing CA file", Remote(new Config
                {
                    RemoteEndpoints = new[] { "https://127.0.0.1:9" },
                    RemoteCaFile = "/nonexistent/ca.pem",
                }), Status.InvalidArgument, new[] { "/nonexistent/ca.pem" }),
                // Refused by the binding before the library sees them.
                Tuple.Create("comma in an endpoint", Remote(new Config { RemoteEndpoints = new[] { DeadEndpoint + "," + DeadEndpoint2 } }),
                    Status.InvalidArgument, new[] { "remote_endpoints", "\",\"" }),
                Tuple.Create("null endpoint", Remote(new Config { RemoteEndpoints = new string[] { null } }),
                    Status.InvalidArgument, new[] { "remote_endpoints" }),
                Tuple.Create("newline in a header", Remote(new Config
                {
                    RemoteEndpoints = new[] { DeadEndpoint },
                    RemoteHeaders = new[] { "a: 1\nb: 2" },
                }), Status.InvalidArgument, new[] { "remote_headers", "newline" }),
                Tuple.Create("NUL in the model", Remote(new Config { RemoteEndpoints = new[] { DeadEndpoint }, RemoteModel = "a\0b" }),
                    Status.InvalidArgument, new[] { "remote_model", "NUL" }),
                Tuple.Create("negative timeout", Remote(new Config
                {
                    RemoteEndpoints = new[] { DeadEndpoint },
                    RemoteTimeout = TimeSpan.FromSeconds(-1),
                }), Status.InvalidArgument, new[] { "remote_timeout" }),
            };
            foreach (var c in cases)
            {
                try
                {
                    using (new Pipeline(c.Item2)) { }
                    throw new TestFailure(c.Item1 + ": the constructor succeeded");
                }
                catch (LmbatchException e)
                {
                    Equal(c.Item3, e.Status, c.Item1 + ": status (" + e.Message + ")");
                    Equal("create", e.Operation, c.Item1 + ": operation");
                    foreach (string word in c.Item4)
                        Check(e.Detail.Contains(word), c.Item1 + ": message \"" + e.Detail + "\" should contain " + word);
                }
            }
        }

        // The remote settings mean nothing to another backend: a CPU pipeline ignores them, and
        // its remote counters stay 0.
        private static void RemoteSettingsAreIgnoredByTheCpuBackend()
        {
            using (var p = new Pipeline(new Config { Backend = Backend.Cpu, RemoteEndpoints = new[] { DeadEndpoint } }))
            {
                Equal(Status.Ok, p.Enqueue(1, Astronaut(), AstroBox), "enqueue");
                Landmarks lm;
                Equal(Status.Ok, p.PopWait(1, TimeSpan.FromSeconds(60), out lm), "pop");
                Stats s = ReconciledStats(p);
                Check(s.Batches == 1 && s.RemoteRetries == 0 && s.RemoteFailovers == 0,
                    "CPU stats: batches " + s.Batches + ", remote retries " + s.RemoteRetries + ", failovers " + s.RemoteFailovers);
            }
        }
    }
}
