// Tests of the C# binding, with a tiny runner (no NuGet):
//   mono Lmbatch.Tests.exe --sizes SIZES_FILE --data TESTS_DATA_DIR [--only NAME]
// SIZES_FILE is the output of struct_sizes.c; TESTS_DATA_DIR is the repository's tests/data.
// Prints each test and "N passed, N failed"; the exit code is non-zero on any failure.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Lmbatch;
using Lmbatch.Native;

namespace Lmbatch.Tests
{
    internal sealed class TestFailure : Exception
    {
        public TestFailure(string message) : base(message) { }
    }

    internal static partial class Program
    {
        private static string _sizesFile;
        private static string _dataDir;

        private const int AstroW = 512, AstroH = 512, AstroStride = 3 * AstroW;
        private static readonly Box AstroBox = new Box(177.2828f, 80.559f, 271.8469f, 175.1234f);
        private const double TolerancePx = 1.5;

        // onnxruntime's points of the astronaut face, in frame pixels.
        private static readonly Dictionary<int, float[]> Reference = new Dictionary<int, float[]>
        {
            { 1, new[] { 223.65218f, 131.01866f } }, // nose tip
            { 33, new[] { 194.38627f, 100.88255f } },
            { 263, new[] { 256.41855f, 103.96334f } },
            { 152, new[] { 221.54256f, 174.9834f } },
        };

        private static byte[] _astronaut;

        private static int Main(string[] args)
        {
            string only = null;
            for (int i = 0; i + 1 < args.Length; i += 2)
            {
                switch (args[i])
                {
                    case "--sizes": _sizesFile = args[i + 1]; break;
                    case "--data": _dataDir = args[i + 1]; break;
                    case "--only": only = args[i + 1]; break;
                    default:
                        Console.Error.WriteLine("unknown argument " + args[i]);
                        return 2;
                }
            }
            if (_sizesFile == null || _dataDir == null)
            {
                Console.Error.WriteLine("usage: Lmbatch.Tests.exe --sizes SIZES_FILE --data TESTS_DATA_DIR [--only NAME]");
                return 2;
            }

            var tests = new List<KeyValuePair<string, Action>>
            {
                Test("LayoutMatchesTheHeader", LayoutMatchesTheHeader),
                Test("StatusesAndVersions", StatusesAndVersions),
                Test("CreateFailuresCarryTheLibrarysMessage", CreateFailuresCarryTheLibrarysMessage),
                Test("ModelInfo", ModelInfoTest),
                Test("AccuracyOnTheAstronaut", AccuracyOnTheAstronaut),
                Test("AlignedChip", AlignedChip),
                Test("ConcurrentEnqueueAndPop", ConcurrentEnqueueAndPop),
                Test("BadInputs", BadInputs),
                Test("DecoderFramesAndTiltedFaces", DecoderFramesAndTiltedFaces),
                Test("BadFrames", BadFrames),
                Test("PendingTimeoutAndCancel", PendingTimeoutAndCancel),
                Test("DisposeTwiceAndUseAfterDispose", DisposeTwiceAndUseAfterDispose),
                Test("LogCallback", LogCallback),
                Test("FinalizerReleasesAnUndisposedPipeline", FinalizerReleasesAnUndisposedPipeline),
                Test("ThousandConcurrentPopAsyncResolveOnce", ThousandConcurrentPopAsyncResolveOnce),
                Test("PopAsyncCancellationCancelsTheFace", PopAsyncCancellationCancelsTheFace),
                Test("DisposeCompletesPendingPopAsync", DisposeCompletesPendingPopAsync),
                Test("PopNextGivesTheId", PopNextGivesTheId),
                Test("RemoteCreateFailuresNameWhatTheyWereGiven", RemoteCreateFailuresNameWhatTheyWereGiven),
                Test("RemoteSettingsAreIgnoredByTheCpuBackend", RemoteSettingsAreIgnoredByTheCpuBackend),
            };
            int passed = 0, failed = 0;
            foreach (var t in tests)
            {
                if (only != null && t.Key != only)
                    continue;
                var sw = Stopwatch.StartNew();
                try
                {
                    t.Value();
                    passed++;
                    Console.WriteLine("PASS {0} ({1} ms)", t.Key, sw.ElapsedMilliseconds);
                }
                catch (Exception e)
                {
                    failed++;
                    Console.WriteLine("FAIL {0} ({1} ms): {2}", t.Key, sw.ElapsedMilliseconds,
                        e is TestFailure ? e.Message : e.ToString());
                }
            }
            Console.WriteLine("{0} passed, {1} failed", passed, failed);
            return failed == 0 && passed > 0 ? 0 : 1;
        }

        private static KeyValuePair<string, Action> Test(string name, Action body)
        {
            return new KeyValuePair<string, Action>(name, body);
        }

        private static void Check(bool condition, string what)
        {
            if (!condition)
                throw new TestFailure(what);
        }

        private static void Equal<T>(T want, T got, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(want, got))
                throw new TestFailure(what + ": got " + got + ", want " + want);
        }

        // ---- helpers -------------------------------------------------------------------------

        private static byte[] AstronautData()
        {
            if (_astronaut == null)
            {
                var data = File.ReadAllBytes(Path.Combine(_dataDir, "faces", "astronaut_rgb8_native.raw"));
                Equal(AstroStride * AstroH, data.Length, "astronaut frame size");
                _astronaut = data;
            }
            return _astronaut;
        }

        private static Image Astronaut()
        {
            return new Image(AstronautData(), AstroW, AstroH, AstroStride, PixelFormat.Rgb8);
        }

        /// The astronaut frame at (dx, dy) in a larger gray frame whose rows carry `pad` bytes of
        /// padding: every shift gives different, predictable points.
        private static Image Shifted(int dx, int dy, int pad, out Box box)
        {
            byte[] src = AstronautData();
            int w = AstroW + dx, h = AstroH + dy, stride = 3 * w + pad;
            var data = new byte[stride * h];
            for (int i = 0; i < data.Length; i++)
                data[i] = 0x80;
            for (int y = 0; y < AstroH; y++)
                Buffer.BlockCopy(src, y * AstroStride, data, (y + dy) * stride + 3 * dx, AstroStride);
            box = new Box(AstroBox.X1 + dx, AstroBox.Y1 + dy, AstroBox.X2 + dx, AstroBox.Y2 + dy);
            return new Image(data, w, h, stride, PixelFormat.Rgb8);
        }

        /// null if every reference point is within TolerancePx of lm's (reference moved by dx, dy).
        private static string PointsError(Landmarks lm, float dx, float dy)
        {
            if (lm == null)
                return "no landmarks";
            if (lm.Points.Length != 468)
                return lm.Points.Length + " points, want 468";
            foreach (var r in Reference)
            {
                Point3 p = lm.Points[r.Key];
                double d = Math.Sqrt(Math.Pow(p.X - (r.Value[0] + dx), 2) + Math.Pow(p.Y - (r.Value[1] + dy), 2));
                if (!(d <= TolerancePx))
                    return string.Format("point {0} at {1} is {2:F3} px from the reference ({3}, {4})",
                        r.Key, p, d, r.Value[0] + dx, r.Value[1] + dy);
            }
            return null;
        }

        private static Stats ReconciledStats(Pipeline p)
        {
            Stats s = p.GetStats();
            Check(s.Reconciles, "stats do not reconcile: " + s);
            return s;
        }

        private static Pipeline Cpu(uint maxBatch = 32, double maxWaitMs = 0.2)
        {
            return new Pipeline(new Config
            {
                Backend = Backend.Cpu,
                MaxBatch = maxBatch,
                MaxWait = TimeSpan.FromTicks((long)(maxWaitMs * TimeSpan.TicksPerMillisecond)),
            });
        }

        // ---- tests ---------------------------------------------------------------------------

        private static void LayoutMatchesTheHeader()
        {
            var lines = File.ReadAllLines(_sizesFile).Where(l => l.Trim().Length > 0).ToList();
            Check(lines.Count > 60, "the sizes file has only " + lines.Count + " lines");
            Assembly asm = typeof(lm_config).Assembly;
            var seenFields = new HashSet<string>();
            var seenConsts = new HashSet<string>();
            var structs = new HashSet<Type>();
            foreach (string line in lines)
            {
                string[] w = line.Split(' ');
                switch (w[0])
                {
                    case "size":
                    {
                        Type t = asm.GetType("Lmbatch.Native." + w[1], true);
                        structs.Add(t);
                        Equal(long.Parse(w[2]), (long)Marshal.SizeOf(t), "sizeof " + w[1]);
                        break;
                    }
                    case "offset":
                    {
                        Type t = asm.GetType("Lmbatch.Native." + w[1], true);
                        Check(t.GetField(w[2]) != null, "C# " + w[1] + " has no field " + w[2]);
                        Equal(long.Parse(w[3]), (long)Marshal.OffsetOf(t, w[2]), "offsetof " + w[1] + "." + w[2]);
                        seenFields.Add(w[1] + "." + w[2]);
                        break;
                    }
                    case "const":
                        Equal(long.Parse(w[2]), CSharpConstant(w[1]), w[1]);
                        seenConsts.Add(w[1]);
                        break;
                    default:
                        throw new TestFailure("bad line in the sizes file: " + line);
                }
            }
            Equal(9, structs.Count, "structs in the sizes file");
            // Every C# field and enum member is in the header's list: nothing extra, nothing renamed.
            foreach (Type t in structs)
                foreach (FieldInfo f in t.GetFields(BindingFlags.Public | BindingFlags.Instance))
                    Check(seenFields.Contains(t.Name + "." + f.Name), "the sizes file lacks " + t.Name + "." + f.Name);
            foreach (var e in Enums)
                Equal(Enum.GetNames(e).Length, seenConsts.Count(c => c.StartsWith(EnumPrefix(e))), "members of " + e.Name);
        }

        private static readonly Type[] Enums =
        {
            typeof(Status), typeof(PixelFormat), typeof(Backend), typeof(ColorMatrix), typeof(ColorRange),
            typeof(ChromaLocation), typeof(FaceFlags), typeof(Precision),
        };

        private static string EnumPrefix(Type e)
        {
            if (e == typeof(Status)) return "LM_STATUS_";
            if (e == typeof(PixelFormat)) return "LM_PIXEL_FORMAT_";
            if (e == typeof(Backend)) return "LM_BACKEND_";
            if (e == typeof(ColorMatrix)) return "LM_COLOR_MATRIX_";
            if (e == typeof(ColorRange)) return "LM_COLOR_RANGE_";
            if (e == typeof(ChromaLocation)) return "LM_CHROMA_LOCATION_";
            if (e == typeof(Precision)) return "LM_PRECISION_";
            return "LM_FACE_";
        }

        /// The C# value of a C constant: LM_STATUS_DUPLICATE_ID -> Status.DuplicateId, etc.
        private static long CSharpConstant(string name)
        {
            if (name == "LM_API_VERSION_MAJOR")
                return NativeMethods.LM_API_VERSION_MAJOR;
            if (name == "LM_API_VERSION_MINOR")
                return NativeMethods.LM_API_VERSION_MINOR;
            if (name == "LM_MEMORY_HOST")
                return NativeMethods.LM_MEMORY_HOST;
            foreach (var e in Enums)
            {
                string prefix = EnumPrefix(e);
                if (!name.StartsWith(prefix))
                    continue;
                string key = name.Substring(prefix.Length).Replace("_", "");
                foreach (string member in Enum.GetNames(e))
                    if (string.Equals(member, key, StringComparison.OrdinalIgnoreCase))
                        return Convert.ToInt64(Enum.Parse(e, member));
                throw new TestFailure("no C# member for " + name);
            }
            throw new TestFailure("unknown constant " + name);
        }

        private static void StatusesAndVersions()
        {
            Equal("queue full", Library.StatusString(Status.QueueFull), "StatusString(QueueFull)");
            Equal("unknown status", Library.StatusString((Status)1000), "StatusString(1000)");
            foreach (Status s in Enum.GetValues(typeof(Status)))
                Check(Library.StatusString(s) != "unknown status", "no description for " + s);
            string v = Library.Version;
            Check(!string.IsNullOrEmpty(v) && v.Contains("."), "Version " + v);
            Equal(1, Library.ApiVersion.Major, "API major");
            Check(Library.ApiVersion.Minor >= (int)NativeMethods.LM_API_VERSION_MINOR, "API minor");
            var ex = new LmbatchException(Status.QueueFull, "enqueue", "");
            Equal("lmbatch: enqueue: queue full", ex.Message, "exception message");
        }

        private static void CreateFailuresCarryTheLibrarysMessage()
        {
            var cases = new[]
            {
                Tuple.Create("max_batch 33", new Config { Backend = Backend.Cpu, MaxBatch = 33 }, Status.InvalidArgument, "max_batch"),
                Tuple.Create("queue_capacity 0", new Config { Backend = Backend.Cpu, QueueCapacity = 0 }, Status.InvalidArgument, "queue_capacity"),
                Tuple.Create("negative device", new Config { Backend = Backend.Cpu, DeviceId = -1 }, Status.InvalidArgument, "device_id"),
                Tuple.Create("backend 7", new Config { Backend = (Backend)7 }, Status.InvalidArgument, "backend"),
                Tuple.Create("TensorRT", new Config { Backend = Backend.TensorRT }, Status.BackendUnavailable, "TensorRT"),
                Tuple.Create("missing model", new Config { Backend = Backend.Cpu, ModelPath = "/nonexistent/model.onnx" }, Status.ModelError, "/nonexistent/model.onnx"),
                // Refused by the binding before the library sees them.
                Tuple.Create("negative max_wait", new Config { MaxWait = TimeSpan.FromSeconds(-1) }, Status.InvalidArgument, "max_wait"),
                Tuple.Create("max_wait past uint32 us", new Config { MaxWait = TimeSpan.FromHours(2) }, Status.InvalidArgument, "max_wait"),
                Tuple.Create("NUL in path", new Config { ModelPath = "a\0b" }, Status.InvalidArgument, "NUL"),
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
                    Check(e.Detail.Contains(c.Item4) && e.Message.Contains(c.Item4),
                        c.Item1 + ": message \"" + e.Message + "\" should mention " + c.Item4);
                }
            }
        }

        private static void ModelInfoTest()
        {
            using (var p = Cpu(4))
            {
                ModelInfo info = p.GetModelInfo();
                Equal("cpu-tract", info.Backend, "backend");
                Equal(468, info.NumPoints, "points");
                Equal(192, info.InputWidth, "input width");
                Equal(192, info.InputHeight, "input height");
                Equal(4, info.MaxBatch, "max batch");
                Equal("", info.FallbackReason, "fallback reason of an explicit CPU backend");
                Equal(3, info.Dims, "dims");
                Equal("mediapipe468", info.Scheme, "scheme");
                Equal(Precision.Fp32, info.Precision, "precision");
            }
            using (var p = new Pipeline())
            {
                ModelInfo info = p.GetModelInfo();
                Equal(32, info.MaxBatch, "default max batch");
                if (info.Backend == "cpu-tract")
                    Check(info.FallbackReason.Contains("TensorRT"), "AUTO fell back without a reason: " + info.FallbackReason);
            }
        }

        /// <summary>The aligned chip (ABI 1.4): ChipSize 112 gives a 112x112 RGB chip, ChipBgr
        /// swaps its bytes, no ChipSize gives none.</summary>
        private static void AlignedChip()
        {
            using (var rgb = new Pipeline(new Config { Backend = Backend.Cpu, ChipSize = 112 }))
            using (var bgr = new Pipeline(new Config { Backend = Backend.Cpu, ChipSize = 112, ChipBgr = true }))
            using (var plain = Cpu())
            {
                Landmarks a, b, c;
                Equal(Status.Ok, rgb.Enqueue(1, Astronaut(), AstroBox), "enqueue rgb");
                Equal(Status.Ok, bgr.Enqueue(1, Astronaut(), AstroBox), "enqueue bgr");
                Equal(Status.Ok, plain.Enqueue(1, Astronaut(), AstroBox), "enqueue plain");
                Equal(Status.Ok, rgb.PopWait(1, TimeSpan.FromSeconds(60), out a), "pop rgb");
                Equal(Status.Ok, bgr.PopWait(1, TimeSpan.FromSeconds(60), out b), "pop bgr");
                Equal(Status.Ok, plain.PopWait(1, TimeSpan.FromSeconds(60), out c), "pop plain");
                Equal(112, a.ChipSide, "chip side");
                Equal(112 * 112 * 3, a.Chip.Length, "chip bytes");
                for (int i = 0; i < a.Chip.Length; i += 3)
                    Check(a.Chip[i] == b.Chip[i + 2] && a.Chip[i + 2] == b.Chip[i], "pixel " + i / 3 + " is not swapped in BGR");
                Check(c.Chip == null && c.ChipSide == 0, "a chip without ChipSize");
            }
        }

        private static void AccuracyOnTheAstronaut()
        {
            using (var p = Cpu())
            {
                Equal(Status.Ok, p.Enqueue(7, Astronaut(), AstroBox), "enqueue");
                Landmarks lm;
                Equal(Status.Ok, p.PopWait(7, TimeSpan.FromSeconds(60), out lm), "pop");
                string err = PointsError(lm, 0, 0);
                Check(err == null, err);
                Check(lm.FaceScore > 0.9 && lm.FaceScore <= 1, "face score " + lm.FaceScore);
                Check(lm.InferTime > TimeSpan.Zero && lm.QueueTime >= TimeSpan.Zero,
                    "times " + lm.QueueTime + " " + lm.InferTime);
                foreach (Point3 pt in lm.Points)
                    Check(!float.IsNaN(pt.Z) && pt.X > 100 && pt.X < 350 && pt.Y > 0 && pt.Y < 250, "point " + pt + " is off the face");
                // Delivered once; the id is free again.
                Equal(Status.NotFound, p.Pop(7, out lm), "second pop");
                Check(lm == null, "a failed pop gives no landmarks");

                // The same face in a padded, shifted frame, polled without waiting.
                Box box;
                Image img = Shifted(40, 25, 13, out box);
                Equal(Status.Ok, p.Enqueue(7, img, box), "enqueue shifted");
                var sw = Stopwatch.StartNew();
                Status st;
                while ((st = p.Pop(7, out lm)) == Status.Pending && sw.Elapsed < TimeSpan.FromSeconds(60))
                    Thread.Sleep(2);
                Equal(Status.Ok, st, "pop shifted");
                err = PointsError(lm, 40, 25);
                Check(err == null, err);
            }
        }

        // The detector's eyes on the astronaut (tests/data/crop.json): the subject's right eye first.
        private static readonly Point2 RightEye = new Point2(203.72534f, 102.96088f), LeftEye = new Point2(249.12488f, 109.49558f);

        private static Landmarks PopOk(Pipeline p, ulong id)
        {
            Landmarks lm;
            Equal(Status.Ok, p.PopWait(id, TimeSpan.FromSeconds(60), out lm), "pop " + id);
            Equal(468, lm.Points.Length, "points of " + id);
            return lm;
        }

        /// The largest distance between a's points and b's, b's mapped by `map` first.
        private static double MaxDistance(Landmarks a, Landmarks b, Func<Point3, Point2> map)
        {
            double worst = 0;
            for (int i = 0; i < a.Points.Length; i++)
            {
                Point2 q = map(b.Points[i]);
                worst = Math.Max(worst, Math.Sqrt(Math.Pow(a.Points[i].X - q.X, 2) + Math.Pow(a.Points[i].Y - q.Y, 2)));
            }
            return worst;
        }

        private static Point2 Same(Point3 p) { return new Point2(p.X, p.Y); }

        /// NV12 and I420 planes of the astronaut's top-left 511x509 (odd on purpose), BT.601 full
        /// range, chroma averaged over 2x2 pixels (sited at the centre); Y rows padded by 3 bytes.
        private static void AstronautYuv(out byte[] y, out byte[] u, out byte[] v, out byte[] uv, out int w, out int h)
        {
            byte[] rgb = AstronautData();
            w = 511;
            h = 509;
            int W = w, H = h, cw = (w + 1) / 2, ch = (h + 1) / 2;
            Func<int, int, int, double> at = (x, yy, c) => rgb[(Math.Min(yy, H - 1) * AstroW + Math.Min(x, W - 1)) * 3 + c];
            Func<int, int, double> luma = (x, yy) => 0.299 * at(x, yy, 0) + 0.587 * at(x, yy, 1) + 0.114 * at(x, yy, 2);
            Func<double, byte> toByte = d => (byte)Math.Max(0, Math.Min(255, Math.Round(d, MidpointRounding.AwayFromZero)));
            y = new byte[(w + 3) * h];
            u = new byte[cw * ch];
            v = new byte[cw * ch];
            uv = new byte[2 * cw * ch];
            for (int r = 0; r < h; r++)
                for (int x = 0; x < w; x++)
                    y[r * (w + 3) + x] = toByte(luma(x, r));
            for (int r = 0; r < ch; r++)
                for (int x = 0; x < cw; x++)
                {
                    double su = 0, sv = 0;
                    for (int k = 0; k < 4; k++)
                    {
                        int sx = 2 * x + (k & 1), sy = 2 * r + (k >> 1);
                        double l = luma(sx, sy);
                        su += 128 + 0.564334 * (at(sx, sy, 2) - l);
                        sv += 128 + 0.713267 * (at(sx, sy, 0) - l);
                    }
                    u[r * cw + x] = uv[r * 2 * cw + 2 * x] = toByte(su / 4);
                    v[r * cw + x] = uv[r * 2 * cw + 2 * x + 1] = toByte(sv / 4);
                }
        }

        private static void DecoderFramesAndTiltedFaces()
        {
            using (var p = Cpu())
            {
                // A packed Frame with an upright Face is Enqueue(Image, Box) exactly.
                Equal(Status.Ok, p.Enqueue(1, Astronaut(), AstroBox), "enqueue");
                Equal(Status.Ok, p.EnqueueFrame(2, Frame.Packed(Astronaut()), Face.Upright(AstroBox)), "enqueue frame");
                Landmarks upright = PopOk(p, 1), fromFrame = PopOk(p, 2);
                Equal(0.0, MaxDistance(upright, fromFrame, Same), "packed frame vs image");
                Check(fromFrame.Roll == 0, "roll of an upright crop " + fromFrame.Roll);

                // The track fields: a square box around the face, the roll of its eye line.
                Box tb = upright.TrackBox;
                Check(Math.Abs((tb.X2 - tb.X1) - (tb.Y2 - tb.Y1)) < 0.01 && tb.X2 - tb.X1 > 40 && tb.X2 - tb.X1 < 200,
                    "track box " + tb.X1 + " " + tb.Y1 + " " + tb.X2 + " " + tb.Y2);
                Point3 nose = upright.Points[1];
                Check(tb.X1 < nose.X && nose.X < tb.X2 && tb.Y1 < nose.Y && nose.Y < tb.Y2, "the track box holds the nose");
                // TrackRoll is the angle of the predicted eye centres (points 33, 133 and 263, 362).
                Point3[] pt = upright.Points;
                double eyeRoll = Math.Atan2(pt[263].Y + pt[362].Y - pt[33].Y - pt[133].Y, pt[263].X + pt[362].X - pt[33].X - pt[133].X);
                Check(Math.Abs(upright.TrackRoll - eyeRoll) < 1e-4, "track roll " + upright.TrackRoll + ", the eye points say " + eyeRoll);
                Face next = upright.NextFace();
                Check(next.Flags == FaceFlags.Roll && next.Roll == upright.TrackRoll && next.Box.X1 == tb.X1, "NextFace");

                // Eyes and the same angle as a roll give the same crop.
                float theta = (float)Math.Atan2(LeftEye.Y - RightEye.Y, LeftEye.X - RightEye.X);
                Equal(Status.Ok, p.EnqueueFrame(3, Frame.Packed(Astronaut()), Face.WithEyes(AstroBox, RightEye, LeftEye)), "eyes");
                Equal(Status.Ok, p.EnqueueFrame(4, Frame.Packed(Astronaut()), Face.WithRoll(AstroBox, theta)), "roll");
                Landmarks byEyes = PopOk(p, 3), byRoll = PopOk(p, 4);
                Check(Math.Abs(byEyes.Roll - theta) < 1e-6 && Math.Abs(byRoll.Roll - theta) < 1e-6, "rolls " + byEyes.Roll + " " + byRoll.Roll);
                Check(MaxDistance(byEyes, byRoll, Same) < 1e-3, "eyes vs roll");
                Check(PointsError(byEyes, 0, 0) == null, "points of the turned crop: " + PointsError(byEyes, 0, 0));

                // The frame turned a quarter clockwise, (x, y) -> (512 - y, x), its face cropped by
                // its roll: the same points, turned.
                byte[] rgb = AstronautData(), turned = new byte[rgb.Length];
                for (int y = 0; y < AstroH; y++)
                    for (int x = 0; x < AstroW; x++)
                        Buffer.BlockCopy(rgb, (y * AstroW + x) * 3, turned, (x * AstroW + (AstroW - 1 - y)) * 3, 3);
                var turnedBox = new Box(512 - AstroBox.Y2, AstroBox.X1, 512 - AstroBox.Y1, AstroBox.X2);
                Equal(Status.Ok, p.EnqueueFrame(5, Frame.Packed(new Image(turned, AstroW, AstroH, AstroStride, PixelFormat.Rgb8)),
                    Face.WithRoll(turnedBox, theta + (float)(Math.PI / 2))), "quarter turn");
                double quarter = MaxDistance(byRoll, PopOk(p, 5), q => new Point2(q.Y, 512 - q.X));
                Check(quarter < 1.5, "quarter turn: " + quarter + " px");

                // NV12 and I420 of an odd-sized frame, and the same through native memory.
                byte[] yp, up, vp, uvp;
                int w, h;
                AstronautYuv(out yp, out up, out vp, out uvp, out w, out h);
                int cw = (w + 1) / 2;
                Frame nv12 = Frame.Nv12(yp, w + 3, uvp, 2 * cw, w, h);
                nv12.ColorMatrix = ColorMatrix.Bt601;
                nv12.ColorRange = ColorRange.Full;
                nv12.ChromaLocation = ChromaLocation.Center;
                Frame i420 = Frame.I420(yp, w + 3, up, cw, vp, cw, w, h);
                i420.ColorMatrix = ColorMatrix.Bt601;
                i420.ColorRange = ColorRange.Full;
                i420.ChromaLocation = ChromaLocation.Center;
                Equal(Status.Ok, p.EnqueueFrame(6, nv12, Face.Upright(AstroBox)), "nv12");
                Equal(Status.Ok, p.EnqueueFrame(7, i420, Face.WithEyes(AstroBox, RightEye, LeftEye)), "i420");
                GCHandle yPin = GCHandle.Alloc(yp, GCHandleType.Pinned), uvPin = GCHandle.Alloc(uvp, GCHandleType.Pinned);
                try
                {
                    var native = new NativeFrame
                    {
                        Format = PixelFormat.Nv12, Width = w, Height = h,
                        Planes = new[] { yPin.AddrOfPinnedObject(), uvPin.AddrOfPinnedObject() },
                        Strides = new long[] { w + 3, 2 * cw },
                        ColorMatrix = ColorMatrix.Bt601, ColorRange = ColorRange.Full, ChromaLocation = ChromaLocation.Center,
                    };
                    Equal(Status.Ok, p.EnqueueFrame(8, native, Face.Upright(AstroBox)), "native nv12");
                }
                finally
                {
                    yPin.Free();
                    uvPin.Free();
                }
                Landmarks fromNv12 = PopOk(p, 6), fromI420 = PopOk(p, 7), fromNative = PopOk(p, 8);
                double dNv12 = MaxDistance(upright, fromNv12, Same), dI420 = MaxDistance(byEyes, fromI420, Same);
                Check(dNv12 < 1.5 && dI420 < 1.5, "YUV vs packed: NV12 " + dNv12 + " px, I420 " + dI420 + " px");
                Equal(0.0, MaxDistance(fromNv12, fromNative, Same), "managed vs native NV12");
                Check(fromNv12.FaceScore > 0.9 && fromI420.FaceScore > 0.9, "scores");
                Console.WriteLine("  NV12 {0:F3} px, I420 {1:F3} px from the packed points; quarter turn {2:F3} px", dNv12, dI420, quarter);
            }
        }

        private static void BadFrames()
        {
            using (var p = Cpu())
            {
                byte[] yp, up, vp, uvp;
                int w, h;
                AstronautYuv(out yp, out up, out vp, out uvp, out w, out h);
                int cw = (w + 1) / 2;
                // Refused by the library (counted).
                Frame noUv = Frame.Nv12(yp, w + 3, null, 2 * cw, w, h);
                Equal(Status.InvalidArgument, p.EnqueueFrame(1, noUv, Face.Upright(AstroBox)), "no UV plane");
                Frame badMatrix = Frame.Nv12(yp, w + 3, uvp, 2 * cw, w, h);
                badMatrix.ColorMatrix = (ColorMatrix)3;
                Equal(Status.InvalidArgument, p.EnqueueFrame(2, badMatrix, Face.Upright(AstroBox)), "matrix 3");
                Frame nv12 = Frame.Nv12(yp, w + 3, uvp, 2 * cw, w, h);
                Equal(Status.InvalidArgument, p.EnqueueFrame(3, nv12, Face.WithRoll(AstroBox, float.NaN)), "NaN roll");
                Equal(Status.InvalidArgument, p.EnqueueFrame(4, nv12,
                    Face.WithEyes(AstroBox, new Point2(float.PositiveInfinity, 0), LeftEye)), "infinite eye");
                Equal(Status.InvalidArgument, p.Enqueue(5, new Image(yp, w, h, w + 3, PixelFormat.Nv12), AstroBox),
                    "NV12 through the Image path");
                Equal(5UL, ReconciledStats(p).RejectedInvalid, "rejected by the library");
                // Refused by the binding: a plane shorter than its rows, negative sizes.
                var shortUv = new byte[uvp.Length - 1];
                Equal(Status.InvalidArgument, p.EnqueueFrame(6, Frame.Nv12(yp, w + 3, shortUv, 2 * cw, w, h), Face.Upright(AstroBox)), "short UV");
                Equal(Status.InvalidArgument, p.EnqueueFrame(7, Frame.Nv12(yp, w + 3, uvp, 2 * cw, -1, h), Face.Upright(AstroBox)), "negative width");
                Stats s = ReconciledStats(p);
                Equal(5UL, s.RejectedInvalid, "the binding's refusals are not counted");
                Equal(0UL, s.Accepted, "accepted");
            }
        }

        private static void ConcurrentEnqueueAndPop()
        {
            const int threads = 6, perThread = 5;
            // Each thread has its own offset and row padding, so a result handed to the wrong id shows.
            var images = new Image[threads];
            var boxes = new Box[threads];
            for (int g = 0; g < threads; g++)
                images[g] = Shifted(9 * g, 5 * g, 7 * g, out boxes[g]);
            var errors = new List<string>();
            using (var p = Cpu(8, 2))
            {
                var workers = new List<Thread>();
                for (int g = 0; g < threads; g++)
                {
                    int gg = g;
                    var th = new Thread(() =>
                    {
                        try
                        {
                            for (int i = 0; i < perThread; i++)
                            {
                                ulong id = (ulong)(1000 * gg + i);
                                Status st = p.Enqueue(id, images[gg], boxes[gg]);
                                if (st != Status.Ok)
                                    throw new TestFailure("enqueue " + id + ": " + st);
                                if (i % 2 == 1)
                                    continue; // leave one queued while enqueueing the next
                                for (ulong pid = i == 0 ? id : id - 1; pid <= id; pid++)
                                {
                                    Landmarks lm;
                                    st = p.PopWait(pid, TimeSpan.FromSeconds(60), out lm);
                                    if (st != Status.Ok)
                                        throw new TestFailure("pop " + pid + ": " + st);
                                    string err = PointsError(lm, 9 * gg, 5 * gg);
                                    if (err != null)
                                        throw new TestFailure("id " + pid + " (thread " + gg + "): " + err);
                                }
                            }
                        }
                        catch (Exception e)
                        {
                            lock (errors)
                                errors.Add(e.Message);
                        }
                    });
                    workers.Add(th);
                    th.Start();
                }
                // Stats may be read while the others work; every snapshot reconciles.
                while (workers.Any(w => w.IsAlive))
                {
                    Stats mid = p.GetStats();
                    if (!mid.Reconciles)
                        lock (errors)
                            errors.Add("stats mid-run: " + mid);
                    Thread.Sleep(3);
                }
                foreach (var w in workers)
                    w.Join();
                Check(errors.Count == 0, string.Join("; ", errors.Distinct()));

                Stats s = ReconciledStats(p);
                const ulong n = threads * perThread;
                Check(s.Accepted == n && s.Popped == n && s.Queued + s.InFlight + s.Ready + s.Expired + s.Cancelled + s.Failed == 0,
                    "stats after " + n + " faces: " + s);
                ulong batches = 0, items = 0;
                for (int size = 0; size < s.BatchSizeHist.Length; size++)
                {
                    Check(size <= 8 || s.BatchSizeHist[size] == 0, s.BatchSizeHist[size] + " batches of " + size + " with MaxBatch 8");
                    batches += s.BatchSizeHist[size];
                    items += (ulong)size * s.BatchSizeHist[size];
                }
                Equal(33, s.BatchSizeHist.Length, "histogram length");
                Equal(0UL, s.BatchSizeHist[0], "batches of 0 items");
                Equal(s.Batches, batches, "batches in the histogram");
                Equal(n, items, "items in the histogram");
                Check(s.InferP50 > TimeSpan.Zero && s.InferP99 >= s.InferP50 && s.QueueP99 >= s.QueueP50 && !s.Degraded,
                    "latencies " + s.InferP50 + " " + s.InferP99 + " " + s.QueueP50 + " " + s.QueueP99);
            }
        }

        private static void BadInputs()
        {
            using (var p = Cpu())
            {
                Image img = Astronaut();
                byte[] d = img.Data;
                // Refused by the library: counted in RejectedInvalid.
                var library = new[]
                {
                    Tuple.Create("inverted box", img, new Box(271, 80, 177, 175)),
                    Tuple.Create("NaN box", img, new Box(float.NaN, 80, 271, 175)),
                    Tuple.Create("infinite box", img, new Box(177, 80, 271, float.PositiveInfinity)),
                    Tuple.Create("empty box", img, new Box(177, 80, 177, 175)),
                    Tuple.Create("box outside the frame", img, new Box(600, 80, 700, 175)),
                    Tuple.Create("format 9", new Image(d, AstroW, AstroH, AstroStride, (PixelFormat)9), AstroBox),
                    Tuple.Create("format -1", new Image(d, AstroW, AstroH, AstroStride, (PixelFormat)(-1)), AstroBox),
                    Tuple.Create("zero width", new Image(d, 0, AstroH, AstroStride, PixelFormat.Rgb8), AstroBox),
                    Tuple.Create("stride below a row", new Image(d, AstroW, AstroH, AstroStride - 1, PixelFormat.Rgb8), AstroBox),
                    Tuple.Create("no data", new Image(null, 0, 0, 0, PixelFormat.Rgb8), AstroBox),
                };
                ulong id = 0;
                foreach (var c in library)
                    Equal(Status.InvalidArgument, p.Enqueue(id++, c.Item2, c.Item3), c.Item1);
                // Refused by the binding, which must not let the library read past Data.
                var binding = new[]
                {
                    Tuple.Create("data one byte short", new Image(d.Take(d.Length - 1).ToArray(), AstroW, AstroH, AstroStride, PixelFormat.Rgb8)),
                    Tuple.Create("RGBA view of RGB data", new Image(d, AstroW, AstroH, 4 * AstroW, PixelFormat.Rgba8)),
                    Tuple.Create("null data", new Image(null, 4, 4, 12, PixelFormat.Rgb8)),
                    Tuple.Create("negative height", new Image(d, AstroW, -1, AstroStride, PixelFormat.Rgb8)),
                    Tuple.Create("huge stride", new Image(d, 4, 30000, int.MaxValue, PixelFormat.Gray8)),
                };
                foreach (var c in binding)
                    Equal(Status.InvalidArgument, p.Enqueue(id++, c.Item2, AstroBox), c.Item1);
                Stats s = ReconciledStats(p);
                Equal((ulong)library.Length, s.RejectedInvalid, "RejectedInvalid");
                Equal(0UL, s.Accepted, "Accepted");

                // A duplicate id, while the first is live.
                Equal(Status.Ok, p.Enqueue(5, img, AstroBox), "enqueue 5");
                Equal(Status.DuplicateId, p.Enqueue(5, img, AstroBox), "duplicate id");
                Landmarks lm;
                Equal(Status.Ok, p.PopWait(5, 60000u, out lm), "pop 5");
                // Unknown ids answer at once.
                Equal(Status.NotFound, p.Pop(12345, out lm), "pop of an unknown id");
                var sw = Stopwatch.StartNew();
                Equal(Status.NotFound, p.PopWait(12345, TimeSpan.FromSeconds(5), out lm), "pop_wait of an unknown id");
                Check(sw.Elapsed < TimeSpan.FromSeconds(1), "pop_wait of an unknown id took " + sw.Elapsed);
                Equal(Status.NotFound, p.Cancel(12345), "cancel of an unknown id");
                s = ReconciledStats(p);
                Check(s.Accepted == 1 && s.Popped == 1 && s.RejectedInvalid == (ulong)library.Length, "stats " + s);
            }
        }

        private static void PendingTimeoutAndCancel()
        {
            // A long deadline keeps a lone face pending.
            using (var p = new Pipeline(new Config
            {
                Backend = Backend.Cpu,
                MaxWait = TimeSpan.FromSeconds(20),
                DrainTimeout = TimeSpan.Zero,
            }))
            {
                Image img = Astronaut();
                Landmarks lm;
                Equal(Status.Ok, p.Enqueue(1, img, AstroBox), "enqueue");
                Equal(Status.Pending, p.Pop(1, out lm), "pop");
                Equal(Status.Pending, p.PopWait(1, 0u, out lm), "pop_wait 0");
                var sw = Stopwatch.StartNew();
                Equal(Status.Timeout, p.PopWait(1, TimeSpan.FromMilliseconds(30), out lm), "pop_wait 30 ms");
                Check(sw.ElapsedMilliseconds >= 25, "pop_wait 30 ms returned after " + sw.ElapsedMilliseconds + " ms");

                // A PopWait blocked on the id wakes with Cancelled. If Cancel wins the race with
                // the waiter, the waiter sees NotFound instead: try a few times.
                bool cancelled = false;
                int tries = 0;
                for (; tries < 3 && !cancelled; tries++)
                {
                    ulong id = (ulong)(10 + tries);
                    Equal(Status.Ok, p.Enqueue(id, img, AstroBox), "enqueue " + id);
                    Status got = Status.Ok;
                    var waiter = new Thread(() => { Landmarks unused; got = p.PopWait(id, TimeSpan.FromSeconds(30), out unused); });
                    waiter.Start();
                    Thread.Sleep(200);
                    Equal(Status.Ok, p.Cancel(id), "cancel " + id);
                    Check(waiter.Join(TimeSpan.FromSeconds(10)), "cancel did not wake the waiter");
                    Check(got == Status.Cancelled || got == Status.NotFound, "the waiter got " + got);
                    cancelled = got == Status.Cancelled;
                }
                Check(cancelled, "no waiter saw Cancelled");
                Equal(Status.Ok, p.Cancel(1), "cancel 1");
                Equal(Status.NotFound, p.Cancel(1), "second cancel 1");
                Equal(Status.NotFound, p.Pop(1, out lm), "pop after cancel");
                Stats s = ReconciledStats(p);
                ulong n = (ulong)(1 + tries);
                Check(s.Accepted == n && s.Cancelled == n && s.Queued == 0 && s.Popped == 0 && s.Batches == 0, "stats " + s);
                // The id is free again after Cancel; leave it queued: Dispose discards it.
                Equal(Status.Ok, p.Enqueue(1, img, AstroBox), "re-enqueue after cancel");
                s = ReconciledStats(p);
                Check(s.Accepted == n + 1 && s.Queued == 1, "stats " + s);
            }
        }

        private static void DisposeTwiceAndUseAfterDispose()
        {
            var p = Cpu();
            Equal(Status.Ok, p.Enqueue(1, Astronaut(), AstroBox), "enqueue");
            Check(!p.IsDisposed, "IsDisposed before Dispose");
            p.Dispose();
            p.Dispose();
            Check(p.IsDisposed, "IsDisposed after Dispose");
            var calls = new Dictionary<string, Action>
            {
                { "Enqueue", () => p.Enqueue(2, Astronaut(), AstroBox) },
                { "Pop", () => { Landmarks lm; p.Pop(1, out lm); } },
                { "PopWait", () => { Landmarks lm; p.PopWait(1, TimeSpan.FromSeconds(1), out lm); } },
                { "Cancel", () => p.Cancel(1) },
                { "GetStats", () => p.GetStats() },
                { "GetModelInfo", () => p.GetModelInfo() },
            };
            foreach (var c in calls)
            {
                try
                {
                    c.Value();
                    throw new TestFailure(c.Key + " after Dispose did not throw");
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }

        private static void LogCallback()
        {
            var logged = new List<KeyValuePair<LogLevel, string>>();
            var p = new Pipeline(new Config
            {
                Log = (level, message) =>
                {
                    lock (logged)
                        logged.Add(new KeyValuePair<LogLevel, string>(level, message));
                },
            });
            p.Dispose();
            lock (logged)
            {
                string all = string.Join(" | ", logged.Select(kv => kv.Key + ": " + kv.Value));
                Check(logged.Any(kv => kv.Key == LogLevel.Info), "no info message: " + all);
                Check(logged.All(kv => kv.Key >= LogLevel.Error && kv.Key <= LogLevel.Debug), "bad level: " + all);
                // From lm_create (the calling thread) and from the worker as lm_destroy stops it.
                Check(logged.Any(kv => kv.Value.Contains("ready")), "no message says ready: " + all);
                Check(logged.Any(kv => kv.Value.Contains("stopped")), "no message says stopped: " + all);
            }
        }

        private static void FinalizerReleasesAnUndisposedPipeline()
        {
            // The SafeHandle's finalizer is a safety net: a Pipeline dropped without Dispose is
            // destroyed, which the worker's last log message ("... stopped") shows.
            // Created on a thread of its own that then ends: mono scans stacks conservatively, and
            // a stale slot of this thread's stack could keep the pipeline reachable.
            var stopped = new ManualResetEventSlim(false);
            Exception failure = null;
            var creator = new Thread(() =>
            {
                try { CreateAndDrop(stopped); }
                catch (Exception e) { failure = e; }
            });
            creator.Start();
            creator.Join();
            if (failure != null)
                throw failure;
            var sw = Stopwatch.StartNew();
            while (!stopped.IsSet && sw.Elapsed < TimeSpan.FromSeconds(20))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                stopped.Wait(50);
            }
            Check(stopped.IsSet, "the finalizer did not destroy an unreachable pipeline");
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void CreateAndDrop(ManualResetEventSlim stopped)
        {
            var p = new Pipeline(new Config
            {
                Backend = Backend.Cpu,
                DrainTimeout = TimeSpan.Zero,
                Log = (level, message) =>
                {
                    if (message.Contains("stopped"))
                        stopped.Set();
                },
            });
            Equal(Status.Ok, p.Enqueue(1, Astronaut(), AstroBox), "enqueue");
        }
    }
}
