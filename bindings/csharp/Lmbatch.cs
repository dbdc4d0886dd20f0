// C# binding of the lmbatch C library: facial landmarks (468 3-D points) for the faces a detector
// finds, batched on a worker thread behind a C ABI (include/lmbatch.h, ABI version 1).
//
// Two layers:
//   Lmbatch.Native   the C ABI as it is: structs laid out like the header, P/Invoke declarations,
//                    and LmHandle, the SafeHandle of an lm_handle.
//   Lmbatch          the idiomatic API: Pipeline (IDisposable), Config, Image, Box, Landmarks,
//                    Stats, ModelInfo, Status, LmbatchException.
//
// The native library is loaded by name ("lmbatch" -> liblmbatch.so), so its folder must be on the
// loader's path (LD_LIBRARY_PATH on Linux) or next to the application.
//
// Builds with mono's mcs (C# 7) and with any .NET SDK (netstandard2.0); no unsafe code.

using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Lmbatch.Native;

namespace Lmbatch.Native
{
    // Field names are the header's, so that the layout test can compare every offset by name.
    /// <summary>lm_log_fn: void (*)(int32_t level, const char *message, void *user).</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void lm_log_fn(int level, IntPtr message, IntPtr user);

    /// <summary>lm_ready_fn: void (*)(uint64_t event_id, lm_status status, void *user). Since ABI 1.3.</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void lm_ready_fn(ulong eventId, int status, IntPtr user);

    /// <summary>lm_config. Fill it with lm_config_init, then change what you need.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_config
    {
        public UIntPtr struct_size;
        public IntPtr model_path;       // const char *, NUL-terminated UTF-8; NULL: bundled model
        public int backend;
        public int device_id;
        public uint max_batch;
        public uint queue_capacity;
        public uint max_wait_us;
        public uint result_capacity;
        public uint result_ttl_ms;
        public uint drain_timeout_ms;
        public IntPtr engine_cache_dir; // const char *
        public IntPtr log_fn;           // lm_log_fn
        public IntPtr log_user;         // void *
        public uint opt_batch;          // since ABI 1.2
        public int self_check;          // since ABI 1.2
        public IntPtr ready_fn;         // lm_ready_fn, since ABI 1.3
        public IntPtr ready_user;       // void *
        public IntPtr remote_endpoints; // const char *, since ABI 1.3 (LM_BACKEND_REMOTE)
        public IntPtr remote_model;     // const char *
        public IntPtr remote_model_version; // const char *
        public uint remote_timeout_ms;
        public uint remote_connect_timeout_ms;
        public IntPtr remote_headers;   // const char *
        public IntPtr remote_ca_file;   // const char *
        public uint cpu_threads;        // ABI 1.4
        public int precision;           // lm_precision (ABI 1.4)
        public IntPtr model_desc_path;  // const char * (ABI 1.4)
        public uint chip_size;          // ABI 1.4
        public int chip_format;         // lm_pixel_format: RGB8 or BGR8 (ABI 1.4)
    }

    /// <summary>lm_image: a view of the caller's frame, read only during lm_enqueue.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_image
    {
        public IntPtr data;             // const uint8_t *
        public uint width;
        public uint height;
        public UIntPtr stride;          // size_t
        public int format;              // lm_pixel_format
    }

    /// <summary>lm_box: a detector box in frame pixels.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_box
    {
        public float x1;
        public float y1;
        public float x2;
        public float y2;
    }

    /// <summary>lm_landmarks: one face's landmarks, filled by lm_pop.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_landmarks
    {
        public UIntPtr struct_size;
        public IntPtr points;           // float *: capacity * 3 floats
        public uint capacity;
        public uint num_points;
        public float face_score;
        public ulong queue_us;
        public ulong infer_us;
        public float roll;              // since ABI 1.3
        public lm_box track_box;        // since ABI 1.3
        public float track_roll;        // since ABI 1.3
        public float yaw;               // since ABI 1.4
        public float pitch;             // since ABI 1.4
        public float head_roll;         // since ABI 1.4
        public lm_quality quality;      // since ABI 1.4
        public IntPtr chip;             // uint8_t *: chip_capacity bytes, or NULL (ABI 1.4)
        public UIntPtr chip_capacity;   // size_t (ABI 1.4)
        public uint chip_side;          // out (ABI 1.4)
    }

    /// <summary>lm_quality (ABI 1.4).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_quality
    {
        public float sharpness;
        public float eyes_open;
        public float mouth_open;
        public float inter_eye_px;
        public float frontal;
        public float overall;
    }

    /// <summary>lm_frame (ABI 1.3): a view of a frame in any format, each plane with its own
    /// pointer and stride; read only during lm_enqueue_frame.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_frame
    {
        public UIntPtr struct_size;
        public int format;              // lm_pixel_format: packed 0..4 or planar 16..21
        public uint width;
        public uint height;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 4)]
        public IntPtr[] planes;         // const void *[4]; unused planes NULL
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 4)]
        public UIntPtr[] strides;       // size_t[4]
        public int color_matrix;
        public int color_range;
        public int chroma_location;
        public int memory;              // LM_MEMORY_HOST
    }

    /// <summary>lm_face (ABI 1.3): a detector box and, optionally, the eyes or the roll.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_face
    {
        public UIntPtr struct_size;
        public lm_box box;
        public uint flags;              // LM_FACE_EYES, LM_FACE_ROLL
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 2)]
        public float[] right_eye;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 2)]
        public float[] left_eye;
        public float roll;
    }

    /// <summary>lm_stats: a consistent snapshot of a handle's counters.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_stats
    {
        public UIntPtr struct_size;
        public ulong accepted;
        public ulong rejected_full;
        public ulong rejected_invalid;
        public ulong queued;
        public ulong in_flight;
        public ulong ready;
        public ulong popped;
        public ulong expired;
        public ulong cancelled;
        public ulong failed;
        public ulong batches;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 33)]
        public ulong[] batch_size_hist;
        public ulong queue_us_p50;
        public ulong queue_us_p99;
        public ulong infer_us_p50;
        public ulong infer_us_p99;
        public uint degraded;
        public ulong ready_callbacks;        // since ABI 1.3
        public ulong ready_callback_us;      // since ABI 1.3
        public ulong ready_callback_max_us;  // since ABI 1.3
        public ulong remote_retries;    // since ABI 1.3
        public ulong remote_failovers;  // since ABI 1.3
    }

    /// <summary>lm_model_info: what a handle runs.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct lm_model_info
    {
        public UIntPtr struct_size;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 32)]
        public byte[] backend;          // char[32], NUL-terminated
        public uint num_points;
        public uint input_width;
        public uint input_height;
        public uint max_batch;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 256)]
        public byte[] fallback_reason;  // char[256], NUL-terminated
        public uint dims;               // ABI 1.4
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 24)]
        public byte[] scheme;           // char[24], NUL-terminated (ABI 1.4)
        public int precision;           // lm_precision (ABI 1.4)
    }

    /// <summary>The SafeHandle of an lm_handle: releasing it calls lm_destroy. Passing it to a
    /// P/Invoke holds a reference for the call, so a Dispose racing a call is deferred until the
    /// call returns instead of freeing the handle under it.</summary>
    public sealed class LmHandle : SafeHandle
    {
        public LmHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>A strong GC handle on the log callback's delegate, freed once lm_destroy has
        /// returned. A plain field would not do: when the pipeline is finalized without Dispose,
        /// the delegate's own finalizer (which frees its native thunk) may run before this
        /// critical finalizer, and lm_destroy logs.</summary>
        internal GCHandle LogRoot;

        /// <summary>The same for the ready callback's delegate (PopAsync's completions).</summary>
        internal GCHandle ReadyRoot;

        protected override bool ReleaseHandle()
        {
            NativeMethods.lm_destroy(handle);
            if (LogRoot.IsAllocated)
                LogRoot.Free();
            if (ReadyRoot.IsAllocated)
                ReadyRoot.Free();
            return true;
        }
    }

    /// <summary>The C ABI's functions, as the header declares them.</summary>
    public static class NativeMethods
    {
        public const string Library = "lmbatch";

        /// <summary>The C ABI version this binding is written against (LM_API_VERSION_*).</summary>
        public const uint LM_API_VERSION_MAJOR = 1;
        public const uint LM_API_VERSION_MINOR = 4;
        /// <summary>lm_frame.memory: host memory, the only kind accepted so far.</summary>
        public const int LM_MEMORY_HOST = 0;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void lm_config_init_sized(ref lm_config cfg, UIntPtr size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_create(ref lm_config cfg, out LmHandle handle,
            [Out] byte[] errBuf, UIntPtr errLen);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_enqueue(LmHandle h, ulong eventId, ref lm_image frame, ref lm_box face);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_enqueue_frame(LmHandle h, ulong eventId, ref lm_frame frame, ref lm_face face);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_pop(LmHandle h, ulong eventId, ref lm_landmarks result);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_pop_wait(LmHandle h, ulong eventId, uint timeoutMs, ref lm_landmarks result);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_pop_next(LmHandle h, uint timeoutMs, out ulong eventId, ref lm_landmarks result);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_cancel(LmHandle h, ulong eventId);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_get_stats(LmHandle h, ref lm_stats result);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lm_get_model_info(LmHandle h, ref lm_model_info result);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void lm_destroy(IntPtr h);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr lm_status_string(int status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr lm_version_string();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void lm_api_version(out uint major, out uint minor);
    }

    /// <summary>NUL-terminated UTF-8 strings to and from native memory.</summary>
    internal static class Utf8
    {
        /// <summary>A copy of s in unmanaged memory (free with Marshal.FreeHGlobal); null gives
        /// IntPtr.Zero.</summary>
        internal static IntPtr Alloc(string s, string name)
        {
            if (s == null)
                return IntPtr.Zero;
            if (s.IndexOf('\0') >= 0)
                throw new LmbatchException(Status.InvalidArgument, "create", name + " contains a NUL character");
            byte[] bytes = Encoding.UTF8.GetBytes(s);
            IntPtr p = Marshal.AllocHGlobal(bytes.Length + 1);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            Marshal.WriteByte(p, bytes.Length, 0);
            return p;
        }

        internal static string FromPtr(IntPtr p)
        {
            if (p == IntPtr.Zero)
                return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0)
                n++;
            byte[] bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>The string up to the first NUL of a fixed C array, never past its end.</summary>
        internal static string FromArray(byte[] a)
        {
            if (a == null)
                return "";
            int n = Array.IndexOf(a, (byte)0);
            return Encoding.UTF8.GetString(a, 0, n < 0 ? a.Length : n);
        }
    }
}

namespace Lmbatch
{
    /// <summary>lm_status: the outcome of every call. Values are stable; new ones are only
    /// appended.</summary>
    public enum Status
    {
        Ok = 0,
        NullArgument = 1,
        InvalidArgument = 2,
        QueueFull = 3,
        Pending = 4,
        NotFound = 5,
        Expired = 6,
        Cancelled = 7,
        InferenceFailed = 8,
        DuplicateId = 9,
        Timeout = 10,
        BufferTooSmall = 11,
        BackendUnavailable = 12,
        ModelError = 13,
        ShuttingDown = 14,
        Panic = 15,
        Internal = 16,
    }

    /// <summary>lm_pixel_format.</summary>
    public enum PixelFormat
    {
        Bgr8 = 0,
        Rgb8 = 1,
        Bgra8 = 2, // the alpha byte is never read
        Rgba8 = 3, // the alpha byte is never read
        Gray8 = 4, // replicated to R = G = B
        // Decoder formats (ABI 1.3), for Frame only: Enqueue with an Image refuses them.
        Nv12 = 16, // Y plane, then interleaved U,V at half resolution
        Nv21 = 17, // as Nv12, V before U
        I420 = 18, // Y, U, V planes, chroma at half resolution (YV12: swap U and V)
        P010 = 19, // as Nv12, 16-bit little-endian samples, 10 high bits significant
        P016 = 20, // as Nv12, 16-bit little-endian samples
        I010 = 21, // (ABI 1.4) as I420, 16-bit little-endian samples, 10 low bits (yuv420p10le)
    }

    /// <summary>The YUV matrix of a Frame: ITU-T H.273 codes (FFmpeg's AVColorSpace), so a
    /// decoder's value casts across. Auto: BT.709 from 1280 wide or 577 high, else BT.601.</summary>
    public enum ColorMatrix
    {
        Auto = 0,
        Bt709 = 1,
        /// <summary>As Auto.</summary>
        Unspecified = 2,
        Bt601 = 5,
        /// <summary>As Bt601.</summary>
        Smpte170M = 6,
        Bt2020 = 9,
    }

    /// <summary>The range of a YUV Frame (FFmpeg's AVColorRange). Auto is limited.</summary>
    public enum ColorRange
    {
        Auto = 0,
        Limited = 1,
        Full = 2,
    }

    /// <summary>Where a YUV Frame's chroma samples sit (FFmpeg's AVChromaLocation). Auto is
    /// Left.</summary>
    public enum ChromaLocation
    {
        Auto = 0,
        Left = 1,
        Center = 2,
        TopLeft = 3,
    }

    /// <summary>Which optional fields of a Face are valid (lm_face.flags).</summary>
    [Flags]
    public enum FaceFlags : uint
    {
        /// <summary>RightEye and LeftEye are valid: the crop turns along their line.</summary>
        Eyes = 1,
        /// <summary>Roll is valid (Eyes wins when both are set).</summary>
        Roll = 2,
    }

    /// <summary>lm_backend.</summary>
    public enum Backend
    {
        /// <summary>TensorRT if it can run here, else OpenVINO if it loads, else ONNX Runtime if it
        /// loads, else tract (ModelInfo.FallbackReason says why).</summary>
        Auto = 0,
        /// <summary>tract on the CPU; always available.</summary>
        Cpu = 1,
        /// <summary>TensorRT on an NVIDIA GPU; the Pipeline constructor throws with
        /// Status.BackendUnavailable if it cannot run.</summary>
        TensorRT = 2,
        /// <summary>ONNX Runtime on the CPU, loaded at run time (ORT_DYLIB_PATH); since ABI 1.1.</summary>
        OnnxRuntime = 3,
        /// <summary>An Open Inference Protocol server over gRPC (Triton, KServe, MLServer), named by
        /// Config.RemoteEndpoints; never chosen by Auto. The Pipeline constructor throws with
        /// Status.BackendUnavailable when no endpoint answers, naming each and why. Since ABI 1.3.</summary>
        Remote = 4,
        /// <summary>OpenVINO on the CPU, loaded at run time (OPENVINO_LIB_PATH: the
        /// libopenvino_c.so* file or its folder); since ABI 1.4.</summary>
        OpenVino = 5,
    }

    /// <summary>Log levels of the log callback.</summary>
    public enum LogLevel
    {
        Error = 0,
        Warning = 1,
        Info = 2,
        Debug = 3,
    }

    /// <summary>A failure to create a pipeline (or an unexpected failure of another call): the
    /// status and the library's message.</summary>
    public class LmbatchException : Exception
    {
        public Status Status { get; private set; }
        public string Operation { get; private set; }
        /// <summary>The library's reason (lm_create's error buffer) or the binding's.</summary>
        public string Detail { get; private set; }

        public LmbatchException(Status status, string operation, string detail)
            : base("lmbatch: " + operation + ": " + Library.StatusString(status)
                   + (string.IsNullOrEmpty(detail) ? "" : ": " + detail))
        {
            Status = status;
            Operation = operation;
            Detail = detail ?? "";
        }
    }

    /// <summary>Functions that need no pipeline.</summary>
    public static class Library
    {
        /// <summary>The library's version, e.g. "0.1.0".</summary>
        public static string Version { get { return Utf8.FromPtr(NativeMethods.lm_version_string()); } }

        /// <summary>The C ABI version of the loaded library.</summary>
        public static Version ApiVersion
        {
            get
            {
                uint major, minor;
                NativeMethods.lm_api_version(out major, out minor);
                return new Version((int)major, (int)minor);
            }
        }

        /// <summary>The library's description of a status, e.g. "queue full".</summary>
        public static string StatusString(Status status)
        {
            return Utf8.FromPtr(NativeMethods.lm_status_string((int)status));
        }
    }

    /// <summary>Pipeline configuration; every property left null takes the library's default
    /// (lm_config_init).</summary>
    public sealed class Config
    {
        /// <summary>Path of an ONNX model; null: the model bundled in the library.</summary>
        public string ModelPath { get; set; }
        /// <summary>Default Backend.Auto.</summary>
        public Backend? Backend { get; set; }
        /// <summary>CUDA device; default 0; negative is invalid.</summary>
        public int? DeviceId { get; set; }
        /// <summary>Largest batch, 1..32; default 32.</summary>
        public uint? MaxBatch { get; set; }
        /// <summary>Faces waiting for the worker, >= 1; default 96.</summary>
        public uint? QueueCapacity { get; set; }
        /// <summary>Deadline of a batch from its first face (microseconds, rounded up); zero
        /// sends what is there; default 10 ms.</summary>
        public TimeSpan? MaxWait { get; set; }
        /// <summary>Finished results waiting to be popped, >= 1; default 4096.</summary>
        public uint? ResultCapacity { get; set; }
        /// <summary>Time-to-live of a finished result (milliseconds, rounded up); zero: no
        /// limit; default 30 s.</summary>
        public TimeSpan? ResultTtl { get; set; }
        /// <summary>How long Dispose lets queued work finish before cancelling the rest
        /// (milliseconds, rounded up); zero discards what is queued; default 1 s.</summary>
        public TimeSpan? DrainTimeout { get; set; }
        /// <summary>TensorRT plans built from ONNX are cached here; null: no cache.</summary>
        public string EngineCacheDir { get; set; }
        /// <summary>The batch size TensorRT tunes its plan for, 1..MaxBatch; default MaxBatch.</summary>
        public uint? OptBatch { get; set; }
        /// <summary>Check at create that a GPU engine gives the same points for a face alone and
        /// in a full batch, refusing it if not; default true.</summary>
        public bool? SelfCheck { get; set; }
        /// <summary>Backend.Remote: the servers' gRPC endpoints, e.g. "http://gpu-a:8001",
        /// "https://gpu-b:8001" (required for it; an entry may not contain a comma). A batch that
        /// fails for want of a server is sent once more to the next healthy endpoint. Since ABI 1.3.</summary>
        public IList<string> RemoteEndpoints { get; set; }
        /// <summary>The model's name on the server; null: "face_landmark_u8".</summary>
        public string RemoteModel { get; set; }
        /// <summary>The model's version; null or "": the server's choice.</summary>
        public string RemoteModelVersion { get; set; }
        /// <summary>Per batch request (milliseconds, rounded up); null or zero: default 2 s.</summary>
        public TimeSpan? RemoteTimeout { get; set; }
        /// <summary>Per connection attempt (milliseconds, rounded up); null or zero: default 1 s.</summary>
        public TimeSpan? RemoteConnectTimeout { get; set; }
        /// <summary>"name: value" lines sent with every call (e.g. "authorization: Bearer ...");
        /// a line may not contain a newline.</summary>
        public IList<string> RemoteHeaders { get; set; }
        /// <summary>A PEM bundle of the roots trusted for https:// endpoints; null: the system's.</summary>
        public string RemoteCaFile { get; set; }
        /// <summary>Threads a CPU engine (ONNX Runtime, tract) runs one batch on, the worker
        /// included; null or 0: every core. A VMS keeps cores for its decoders. Since ABI 1.4.</summary>
        public uint? CpuThreads { get; set; }
        /// <summary>What the engines may compute in; null: Default (FP32 on the CPU). Since ABI 1.4.</summary>
        public Precision? Precision { get; set; }
        /// <summary>The model's descriptor (a TOML file); null: STEM.lmbatch.toml beside the
        /// model, else its metadata, else the bundled descriptor when the model's tensor names
        /// are the bundled model's. Since ABI 1.4.</summary>
        public string ModelDescPath { get; set; }
        /// <summary>The side in px of the aligned recognition chip each result carries
        /// (Landmarks.Chip); null or 0: none, 112: ArcFace, at most 1024. Since ABI 1.4.</summary>
        public uint? ChipSize { get; set; }
        /// <summary>The chip's byte order: true BGR, else RGB (default). Since ABI 1.4.</summary>
        public bool ChipBgr { get; set; }
        /// <summary>Receives the library's log messages. It may be called from any library
        /// thread (during the constructor and Dispose too), concurrently, and must not call
        /// back into the pipeline; its exceptions are caught and dropped.</summary>
        public Action<LogLevel, string> Log { get; set; }
    }

    /// <summary>A view of a frame: Height rows of Stride bytes (the last row needs only
    /// Width * bytes per pixel), top row first, starting at Data[0].</summary>
    public struct Image
    {
        public byte[] Data;
        public int Width;
        public int Height;
        public int Stride;
        public PixelFormat Format;

        public Image(byte[] data, int width, int height, int stride, PixelFormat format)
        {
            Data = data;
            Width = width;
            Height = height;
            Stride = stride;
            Format = format;
        }

        public static int BytesPerPixel(PixelFormat format)
        {
            switch (format)
            {
                case PixelFormat.Bgr8:
                case PixelFormat.Rgb8:
                    return 3;
                case PixelFormat.Bgra8:
                case PixelFormat.Rgba8:
                    return 4;
                case PixelFormat.Gray8:
                    return 1;
                default:
                    return 0;
            }
        }
    }

    /// <summary>A detector box in frame pixels; (0,0) is the top-left corner of the first pixel.</summary>
    public struct Box
    {
        public float X1, Y1, X2, Y2;

        public Box(float x1, float y1, float x2, float y2)
        {
            X1 = x1;
            Y1 = y1;
            X2 = x2;
            Y2 = y2;
        }
    }

    /// <summary>A point in frame pixels.</summary>
    public struct Point2
    {
        public float X, Y;

        public Point2(float x, float y)
        {
            X = x;
            Y = y;
        }
    }

    /// <summary>A face to crop: the detector box and, optionally, its tilt. Without flags the crop
    /// is upright, exactly as Enqueue(Image, Box)'s.</summary>
    public struct Face
    {
        public Box Box;
        public FaceFlags Flags;
        /// <summary>The SUBJECT's right eye (image left on an upright frontal face).</summary>
        public Point2 RightEye;
        public Point2 LeftEye;
        /// <summary>Radians: the angle of the line right eye -> left eye, atan2(dy, dx), y down.</summary>
        public float Roll;

        public static Face Upright(Box box) { return new Face { Box = box }; }

        public static Face WithEyes(Box box, Point2 rightEye, Point2 leftEye)
        {
            return new Face { Box = box, Flags = FaceFlags.Eyes, RightEye = rightEye, LeftEye = leftEye };
        }

        public static Face WithRoll(Box box, float roll)
        {
            return new Face { Box = box, Flags = FaceFlags.Roll, Roll = roll };
        }

        internal lm_face ToNative()
        {
            return new lm_face
            {
                struct_size = (UIntPtr)Marshal.SizeOf(typeof(lm_face)),
                box = new lm_box { x1 = Box.X1, y1 = Box.Y1, x2 = Box.X2, y2 = Box.Y2 },
                flags = (uint)Flags,
                right_eye = new[] { RightEye.X, RightEye.Y },
                left_eye = new[] { LeftEye.X, LeftEye.Y },
                roll = Roll,
            };
        }
    }

    /// <summary>A frame in managed memory in any format EnqueueFrame reads: packed (Planes[0]
    /// only) or a decoder's Nv12, Nv21, I420, P010, P016, each plane with its own stride (bytes
    /// per row) starting at its array's first byte. Planes the format does not use stay null.</summary>
    public sealed class Frame
    {
        public PixelFormat Format;
        public int Width;
        public int Height;
        public readonly byte[][] Planes = new byte[4][];
        public readonly long[] Strides = new long[4];
        public ColorMatrix ColorMatrix;
        public ColorRange ColorRange;
        public ChromaLocation ChromaLocation;

        public static Frame Packed(Image image)
        {
            var f = new Frame { Format = image.Format, Width = image.Width, Height = image.Height };
            f.Planes[0] = image.Data;
            f.Strides[0] = image.Stride;
            return f;
        }

        public static Frame Nv12(byte[] y, int yStride, byte[] uv, int uvStride, int width, int height)
        {
            var f = new Frame { Format = PixelFormat.Nv12, Width = width, Height = height };
            f.Planes[0] = y;
            f.Planes[1] = uv;
            f.Strides[0] = yStride;
            f.Strides[1] = uvStride;
            return f;
        }

        public static Frame I420(byte[] y, int yStride, byte[] u, int uStride, byte[] v, int vStride, int width, int height)
        {
            var f = new Frame { Format = PixelFormat.I420, Width = width, Height = height };
            f.Planes[0] = y;
            f.Planes[1] = u;
            f.Planes[2] = v;
            f.Strides[0] = yStride;
            f.Strides[1] = uStride;
            f.Strides[2] = vStride;
            return f;
        }

        /// <summary>Rows and bytes per row of each plane the format reads; null for a format
        /// the binding does not know (the library refuses it without reading).</summary>
        internal static long[][] PlaneShapes(PixelFormat format, long w, long h)
        {
            long cw = (w + 1) / 2, ch = (h + 1) / 2;
            switch (format)
            {
                case PixelFormat.Bgr8:
                case PixelFormat.Rgb8:
                case PixelFormat.Bgra8:
                case PixelFormat.Rgba8:
                case PixelFormat.Gray8:
                    return new[] { new[] { h, w * Image.BytesPerPixel(format) } };
                case PixelFormat.Nv12:
                case PixelFormat.Nv21:
                    return new[] { new[] { h, w }, new[] { ch, 2 * cw } };
                case PixelFormat.P010:
                case PixelFormat.P016:
                    return new[] { new[] { h, 2 * w }, new[] { ch, 4 * cw } };
                case PixelFormat.I420:
                    return new[] { new[] { h, w }, new[] { ch, cw }, new[] { ch, cw } };
                case PixelFormat.I010:
                    return new[] { new[] { h, 2 * w }, new[] { ch, 2 * cw }, new[] { ch, 2 * cw } };
                default:
                    return null;
            }
        }
    }

    /// <summary>A frame in native memory (a decoder's or camera SDK's buffers): the caller
    /// guarantees that every plane the format reads covers its rows for the duration of the
    /// call.</summary>
    public struct NativeFrame
    {
        public PixelFormat Format;
        public int Width;
        public int Height;
        /// <summary>Up to 4 plane pointers (null or shorter: the rest are NULL).</summary>
        public IntPtr[] Planes;
        /// <summary>Up to 4 strides in bytes.</summary>
        public long[] Strides;
        public ColorMatrix ColorMatrix;
        public ColorRange ColorRange;
        public ChromaLocation ChromaLocation;
    }

    /// <summary>One landmark in frame pixels (Z has the scale of X).</summary>
    public struct Point3
    {
        public float X, Y, Z;

        public Point3(float x, float y, float z)
        {
            X = x;
            Y = y;
            Z = z;
        }

        public override string ToString() { return "(" + X + ", " + Y + ", " + Z + ")"; }
    }

    /// <summary>One face's landmarks.</summary>
    public sealed class Landmarks
    {
        /// <summary>468 for the bundled model; ModelInfo.NumPoints in general.</summary>
        public Point3[] Points { get; internal set; }
        /// <summary>The model's face presence score, 0..1 (below 0.5 it sees no face).</summary>
        public float FaceScore { get; internal set; }
        /// <summary>From the accepted Enqueue to the start of the batch's inference.</summary>
        public TimeSpan QueueTime { get; internal set; }
        /// <summary>The batch's inference time.</summary>
        public TimeSpan InferTime { get; internal set; }
        /// <summary>The angle the face was cropped with, radians (0 for an upright crop).</summary>
        public float Roll { get; internal set; }
        /// <summary>Where to look for this face in the next frame: a square box from these
        /// points (see NextFace).</summary>
        public Box TrackBox { get; internal set; }
        /// <summary>The roll of these points' eye line, radians, for the next frame.</summary>
        public float TrackRoll { get; internal set; }

        /// <summary>The next frame's Face when following this one between detector runs:
        /// TrackBox turned by TrackRoll.</summary>
        public Face NextFace() { return Face.WithRoll(TrackBox, TrackRoll); }
        /// <summary>Head pose, radians (NaN where the model's scheme cannot say): Yaw &gt; 0 the
        /// subject turns to its left, Pitch &gt; 0 it looks up, HeadRoll in Roll's sense. Since
        /// ABI 1.4.</summary>
        public float Yaw { get; internal set; }
        public float Pitch { get; internal set; }
        public float HeadRoll { get; internal set; }
        /// <summary>Quality measures; Quality.Overall picks a track's best shot. Since ABI 1.4.</summary>
        public Quality Quality { get; internal set; }
        /// <summary>The aligned recognition chip (Config.ChipSize &gt; 0): ChipSide² pixels of 3
        /// bytes, RGB (BGR with Config.ChipBgr); null when there is none. Since ABI 1.4.</summary>
        public byte[] Chip { get; internal set; }
        public int ChipSide { get; internal set; }
    }

    /// <summary>Quality of one result (the library's formulas); NaN where the scheme cannot say.</summary>
    public struct Quality
    {
        public float Sharpness;
        public float EyesOpen;
        public float MouthOpen;
        public float InterEyePx;
        public float Frontal;
        public float Overall;
    }

    /// <summary>A consistent snapshot of a pipeline's counters:
    /// Accepted == Queued + InFlight + Ready + Popped + Expired + Cancelled.</summary>
    public sealed class Stats
    {
        public ulong Accepted { get; internal set; }
        public ulong RejectedFull { get; internal set; }
        /// <summary>Faces the library refused with Status.InvalidArgument (not those the binding
        /// refused before calling it).</summary>
        public ulong RejectedInvalid { get; internal set; }
        public ulong Queued { get; internal set; }
        public ulong InFlight { get; internal set; }
        public ulong Ready { get; internal set; }
        public ulong Popped { get; internal set; }
        public ulong Expired { get; internal set; }
        public ulong Cancelled { get; internal set; }
        public ulong Failed { get; internal set; }
        public ulong Batches { get; internal set; }
        /// <summary>[n] = number of batches of n items; [0] unused; 33 entries.</summary>
        public ulong[] BatchSizeHist { get; internal set; }
        public TimeSpan QueueP50 { get; internal set; }
        public TimeSpan QueueP99 { get; internal set; }
        public TimeSpan InferP50 { get; internal set; }
        public TimeSpan InferP99 { get; internal set; }
        public bool Degraded { get; internal set; }
        /// <summary>Calls of the library's ready callback (PopAsync's completions), the time
        /// spent in them, and the longest one. Since ABI 1.3.</summary>
        public ulong ReadyCallbacks { get; internal set; }
        public TimeSpan ReadyCallbackTime { get; internal set; }
        public TimeSpan ReadyCallbackMax { get; internal set; }
        /// <summary>Backend.Remote: batches sent again to another endpoint, and switches of the
        /// endpoint batches go to; 0 for the other backends. Since ABI 1.3.</summary>
        public ulong RemoteRetries { get; internal set; }
        public ulong RemoteFailovers { get; internal set; }

        public bool Reconciles
        {
            get { return Accepted == Queued + InFlight + Ready + Popped + Expired + Cancelled; }
        }

        public override string ToString()
        {
            return string.Format(
                "accepted {0}, rejected full {1} invalid {2}, queued {3}, in flight {4}, ready {5}, " +
                "popped {6}, expired {7}, cancelled {8}, failed {9}, batches {10}, degraded {11}",
                Accepted, RejectedFull, RejectedInvalid, Queued, InFlight, Ready, Popped, Expired,
                Cancelled, Failed, Batches, Degraded);
        }
    }

    /// <summary>What a pipeline runs.</summary>
    public sealed class ModelInfo
    {
        /// <summary>e.g. "cpu-tract".</summary>
        public string Backend { get; internal set; }
        public int NumPoints { get; internal set; }
        public int InputWidth { get; internal set; }
        public int InputHeight { get; internal set; }
        public int MaxBatch { get; internal set; }
        /// <summary>Why Backend.Auto did not pick TensorRT; "" if it did or was not asked.</summary>
        public string FallbackReason { get; internal set; }
        /// <summary>3, or 2 (z is 0). Since ABI 1.4.</summary>
        public int Dims { get; internal set; }
        /// <summary>"mediapipe468", "mediapipe478", "five_point" or "custom". Since ABI 1.4.</summary>
        public string Scheme { get; internal set; }
        /// <summary>What runs. Since ABI 1.4.</summary>
        public Precision Precision { get; internal set; }
    }

    /// <summary>lm_precision: what an engine may compute in (Config) or computes in (ModelInfo).
    /// Since ABI 1.4.</summary>
    public enum Precision
    {
        Default = 0, // FP32 on the CPU engines
        Fp32 = 1,
        Reduced = 2, // BF16/FP16 where an engine has it, else FP32
        Bf16 = 3,
        Fp16 = 4,
    }

    /// <summary>
    /// One lmbatch pipeline: a worker thread, its queue and its result store.
    /// Enqueue never blocks; Pop/PopWait hand each result out exactly once, by the caller's id.
    /// Every method may be called from any number of threads at once; Dispose must not race them
    /// (if it does anyway, the SafeHandle defers the release until the running calls return, and
    /// later calls throw ObjectDisposedException). Dispose is idempotent.
    /// </summary>
    public sealed class Pipeline : IDisposable
    {
        private readonly LmHandle _handle;
        private readonly int _numPoints;
        private readonly int _chipBytes; // ChipSize² × 3: the room each pop offers for the chip
        private readonly Completions _completions;

        private static readonly int LandmarksSize = Marshal.SizeOf(typeof(lm_landmarks));

        /// <summary>A pipeline with the library's defaults.</summary>
        public Pipeline() : this(new Config()) { }

        /// <summary>Loads the model, opens the backend and starts the worker thread. Throws
        /// LmbatchException with the status and the library's message on failure.</summary>
        public Pipeline(Config config)
        {
            if (config == null)
                throw new ArgumentNullException("config");
            Version api = Library.ApiVersion;
            if (api.Major != NativeMethods.LM_API_VERSION_MAJOR || api.Minor < NativeMethods.LM_API_VERSION_MINOR)
                throw new LmbatchException(Status.Internal, "create", string.Format(
                    "the loaded library has C ABI {0}; this binding needs {1}.x with x >= {2}", api,
                    NativeMethods.LM_API_VERSION_MAJOR, NativeMethods.LM_API_VERSION_MINOR));

            var cfg = new lm_config();
            NativeMethods.lm_config_init_sized(ref cfg, (UIntPtr)Marshal.SizeOf(typeof(lm_config)));
            if (config.Backend.HasValue)
                cfg.backend = (int)config.Backend.Value;
            if (config.DeviceId.HasValue)
                cfg.device_id = config.DeviceId.Value;
            if (config.MaxBatch.HasValue)
                cfg.max_batch = config.MaxBatch.Value;
            if (config.QueueCapacity.HasValue)
                cfg.queue_capacity = config.QueueCapacity.Value;
            if (config.ResultCapacity.HasValue)
                cfg.result_capacity = config.ResultCapacity.Value;
            if (config.MaxWait.HasValue)
                cfg.max_wait_us = Units("max_wait", config.MaxWait.Value, TimeSpan.TicksPerMillisecond / 1000);
            if (config.ResultTtl.HasValue)
                cfg.result_ttl_ms = Units("result_ttl", config.ResultTtl.Value, TimeSpan.TicksPerMillisecond);
            if (config.DrainTimeout.HasValue)
                cfg.drain_timeout_ms = Units("drain_timeout", config.DrainTimeout.Value, TimeSpan.TicksPerMillisecond);
            if (config.RemoteTimeout.HasValue)
                cfg.remote_timeout_ms = Units("remote_timeout", config.RemoteTimeout.Value, TimeSpan.TicksPerMillisecond);
            if (config.RemoteConnectTimeout.HasValue)
                cfg.remote_connect_timeout_ms = Units("remote_connect_timeout", config.RemoteConnectTimeout.Value, TimeSpan.TicksPerMillisecond);
            if (config.OptBatch.HasValue)
                cfg.opt_batch = config.OptBatch.Value;
            if (config.CpuThreads.HasValue)
                cfg.cpu_threads = config.CpuThreads.Value;
            if (config.ChipSize.HasValue)
                cfg.chip_size = config.ChipSize.Value;
            if (config.ChipBgr)
                cfg.chip_format = (int)PixelFormat.Bgr8;
            if (config.Precision.HasValue)
                cfg.precision = (int)config.Precision.Value;
            if (config.SelfCheck.HasValue)
                cfg.self_check = config.SelfCheck.Value ? 1 : 0;

            LogThunk log = config.Log == null ? null : new LogThunk(config.Log);
            // The library may log from lm_create until lm_destroy returns: root the delegate.
            GCHandle logRoot = log == null ? default(GCHandle) : GCHandle.Alloc(log.Callback);
            // PopAsync's completions come from lm_config.ready_fn, on the library's worker thread.
            _completions = new Completions();
            var ready = new ReadyThunk(_completions);
            GCHandle readyRoot = GCHandle.Alloc(ready.Callback);
            cfg.ready_fn = Marshal.GetFunctionPointerForDelegate(ready.Callback);
            // The C strings of the config, each freed after lm_create (the library copies them).
            var strings = new List<IntPtr>();
            Func<string, string, IntPtr> cString = (value, name) =>
            {
                IntPtr p = Utf8.Alloc(value, name);
                strings.Add(p);
                return p;
            };
            LmHandle handle = null;
            try
            {
                cfg.model_path = cString(config.ModelPath, "model_path");
                cfg.model_desc_path = cString(config.ModelDescPath, "model_desc_path");
                cfg.engine_cache_dir = cString(config.EngineCacheDir, "engine_cache_dir");
                cfg.remote_endpoints = cString(Joined(config.RemoteEndpoints, ",", "remote_endpoints"), "remote_endpoints");
                cfg.remote_model = cString(config.RemoteModel, "remote_model");
                cfg.remote_model_version = cString(config.RemoteModelVersion, "remote_model_version");
                cfg.remote_headers = cString(Joined(config.RemoteHeaders, "\n", "remote_headers"), "remote_headers");
                cfg.remote_ca_file = cString(config.RemoteCaFile, "remote_ca_file");
                if (log != null)
                    cfg.log_fn = Marshal.GetFunctionPointerForDelegate(log.Callback);
                var err = new byte[1024];
                var st = (Status)NativeMethods.lm_create(ref cfg, out handle, err, (UIntPtr)err.Length);
                if (st != Status.Ok)
                {
                    if (handle != null)
                        handle.Dispose(); // invalid: releases nothing
                    throw new LmbatchException(st, "create", Utf8.FromArray(err));
                }
                handle.LogRoot = logRoot; // freed by ReleaseHandle, after lm_destroy
                logRoot = default(GCHandle);
                handle.ReadyRoot = readyRoot;
                readyRoot = default(GCHandle);
            }
            finally
            {
                foreach (IntPtr p in strings)
                    if (p != IntPtr.Zero)
                        Marshal.FreeHGlobal(p);
                if (logRoot.IsAllocated)
                    logRoot.Free(); // lm_create failed: no library thread is left to log
                if (readyRoot.IsAllocated)
                    readyRoot.Free();
            }
            _handle = handle;
            _completions.Handle = handle;
            try
            {
                _numPoints = GetModelInfo().NumPoints;
                _chipBytes = 3 * (int)(config.ChipSize ?? 0) * (int)(config.ChipSize ?? 0);
                _completions.NumPoints = _numPoints;
                _completions.ChipBytes = _chipBytes;
            }
            catch
            {
                _handle.Dispose();
                throw;
            }
        }

        /// <summary>The items of a list setting joined with sep (null: null), refusing an item that
        /// holds sep or is null (the library would split it).</summary>
        private static string Joined(IList<string> items, string sep, string name)
        {
            if (items == null)
                return null;
            foreach (string item in items)
                if (item == null || item.Contains(sep))
                    throw new LmbatchException(Status.InvalidArgument, "create", string.Format(
                        "{0} entry {1} is null or contains {2}", name,
                        item == null ? "null" : "\"" + item + "\"", sep == "\n" ? "a newline" : "\"" + sep + "\""));
            return string.Join(sep, items);
        }

        /// <summary>span in units of `unitTicks`, rounded up, as a uint.</summary>
        private static uint Units(string name, TimeSpan span, long unitTicks)
        {
            if (span < TimeSpan.Zero)
                throw new LmbatchException(Status.InvalidArgument, "create", name + " is negative");
            long n = (span.Ticks + unitTicks - 1) / unitTicks;
            if (n > uint.MaxValue)
                throw new LmbatchException(Status.InvalidArgument, "create", name + " " + span + " is out of range");
            return (uint)n;
        }

        /// <summary>Stops intake, lets queued work finish for up to Config.DrainTimeout (the rest
        /// is cancelled), joins the worker and frees the handle; results not popped are lost.
        /// Tasks of PopAsync still pending fail with ObjectDisposedException (after the handle
        /// is gone, so no completion races them). Idempotent.</summary>
        public void Dispose()
        {
            List<TaskCompletionSource<Landmarks>> orphans = _completions.Close();
            _handle.Dispose();
            foreach (var tcs in orphans)
                tcs.TrySetException(new ObjectDisposedException("Lmbatch.Pipeline",
                    "the pipeline was disposed before this face's result was taken"));
        }

        public bool IsDisposed { get { return _handle.IsClosed; } }

        private LmHandle Handle
        {
            get
            {
                if (_handle.IsClosed)
                    throw new ObjectDisposedException("Lmbatch.Pipeline");
                return _handle;
            }
        }

        /// <summary>Whether `data` covers the view (so that the library never reads past it);
        /// every other rule of the view is left to the library.</summary>
        private static bool Covers(long length, int width, int height, long stride, PixelFormat format)
        {
            if (width < 0 || height < 0 || stride < 0)
                return false;
            int bpp = Image.BytesPerPixel(format);
            if (bpp == 0 || width == 0 || height == 0)
                return true; // the library refuses these without reading a byte
            decimal need = (decimal)stride * (height - 1) + (decimal)width * bpp;
            return need <= length;
        }

        /// <summary>Queues one face of a frame without blocking: the library validates the view
        /// and box, crops and resizes the face into its own buffer and hands it to the worker.
        /// Returns Status.Ok (accepted: the id is live until its final state is popped or it is
        /// cancelled), Status.QueueFull (backpressure; nothing kept), Status.DuplicateId,
        /// Status.InvalidArgument (a bad view or box; also when frame.Data is shorter than the
        /// view, which the binding refuses itself), Status.ShuttingDown.</summary>
        public Status Enqueue(ulong id, Image frame, Box box)
        {
            LmHandle h = Handle;
            byte[] data = frame.Data;
            if (!Covers(data == null ? 0 : data.LongLength, frame.Width, frame.Height, frame.Stride, frame.Format))
                return Status.InvalidArgument;
            GCHandle pin = default(GCHandle);
            try
            {
                var img = new lm_image
                {
                    data = IntPtr.Zero,
                    width = (uint)frame.Width,
                    height = (uint)frame.Height,
                    stride = (UIntPtr)(ulong)frame.Stride,
                    format = (int)frame.Format,
                };
                if (data != null && data.Length > 0)
                {
                    pin = GCHandle.Alloc(data, GCHandleType.Pinned);
                    img.data = pin.AddrOfPinnedObject();
                }
                var b = new lm_box { x1 = box.X1, y1 = box.Y1, x2 = box.X2, y2 = box.Y2 };
                return (Status)NativeMethods.lm_enqueue(h, id, ref img, ref b);
            }
            finally
            {
                if (pin.IsAllocated)
                    pin.Free();
            }
        }

        /// <summary>Enqueue of a frame in native memory (e.g. a camera SDK's buffer): the caller
        /// guarantees that `data` covers stride * (height - 1) + width * bytes per pixel bytes
        /// for the duration of the call.</summary>
        public Status Enqueue(ulong id, IntPtr data, int width, int height, long stride, PixelFormat format, Box box)
        {
            LmHandle h = Handle;
            if (width < 0 || height < 0 || stride < 0)
                return Status.InvalidArgument;
            var img = new lm_image
            {
                data = data,
                width = (uint)width,
                height = (uint)height,
                stride = (UIntPtr)(ulong)stride,
                format = (int)format,
            };
            var b = new lm_box { x1 = box.X1, y1 = box.Y1, x2 = box.X2, y2 = box.Y2 };
            return (Status)NativeMethods.lm_enqueue(h, id, ref img, ref b);
        }

        /// <summary>Queues one face of a frame in any format (packed, Nv12, Nv21, I420, P010,
        /// P016), cropped upright or turned by the face's eyes or roll, without blocking. Statuses
        /// as Enqueue; Status.InvalidArgument also for a plane the format needs that is null,
        /// overlapping planes, an unknown format or colorimetry code, non-finite eyes or roll, and
        /// (refused by the binding itself) a plane array shorter than its rows.</summary>
        public Status EnqueueFrame(ulong id, Frame frame, Face face)
        {
            if (frame == null)
                throw new ArgumentNullException("frame");
            LmHandle h = Handle;
            if (frame.Width < 0 || frame.Height < 0 || frame.Strides.Any(s => s < 0))
                return Status.InvalidArgument;
            long[][] shapes = frame.Width == 0 || frame.Height == 0 ? null
                : Frame.PlaneShapes(frame.Format, frame.Width, frame.Height);
            for (int i = 0; shapes != null && i < shapes.Length; i++)
            {
                byte[] plane = frame.Planes[i];
                if (plane != null && plane.Length > 0
                    && (decimal)frame.Strides[i] * (shapes[i][0] - 1) + shapes[i][1] > plane.LongLength)
                    return Status.InvalidArgument; // the library would read past the array
            }
            var pins = new GCHandle[4];
            try
            {
                var native = new NativeFrame
                {
                    Format = frame.Format,
                    Width = frame.Width,
                    Height = frame.Height,
                    Planes = new IntPtr[4],
                    Strides = frame.Strides,
                    ColorMatrix = frame.ColorMatrix,
                    ColorRange = frame.ColorRange,
                    ChromaLocation = frame.ChromaLocation,
                };
                for (int i = 0; i < 4; i++)
                {
                    if (frame.Planes[i] != null && frame.Planes[i].Length > 0)
                    {
                        pins[i] = GCHandle.Alloc(frame.Planes[i], GCHandleType.Pinned);
                        native.Planes[i] = pins[i].AddrOfPinnedObject();
                    }
                }
                return EnqueueNative(h, id, native, face);
            }
            finally
            {
                foreach (GCHandle pin in pins)
                    if (pin.IsAllocated)
                        pin.Free();
            }
        }

        /// <summary>EnqueueFrame of a frame in native memory (see NativeFrame).</summary>
        public Status EnqueueFrame(ulong id, NativeFrame frame, Face face)
        {
            LmHandle h = Handle;
            if (frame.Width < 0 || frame.Height < 0 || (frame.Strides != null && frame.Strides.Any(s => s < 0)))
                return Status.InvalidArgument;
            return EnqueueNative(h, id, frame, face);
        }

        private static Status EnqueueNative(LmHandle h, ulong id, NativeFrame frame, Face face)
        {
            var f = new lm_frame
            {
                struct_size = (UIntPtr)Marshal.SizeOf(typeof(lm_frame)),
                format = (int)frame.Format,
                width = (uint)frame.Width,
                height = (uint)frame.Height,
                planes = new IntPtr[4],
                strides = new UIntPtr[4],
                color_matrix = (int)frame.ColorMatrix,
                color_range = (int)frame.ColorRange,
                chroma_location = (int)frame.ChromaLocation,
                memory = NativeMethods.LM_MEMORY_HOST,
            };
            for (int i = 0; i < 4; i++)
            {
                if (frame.Planes != null && i < frame.Planes.Length)
                    f.planes[i] = frame.Planes[i];
                if (frame.Strides != null && i < frame.Strides.Length)
                    f.strides[i] = (UIntPtr)(ulong)frame.Strides[i];
            }
            lm_face c = face.ToNative();
            return (Status)NativeMethods.lm_enqueue_frame(h, id, ref f, ref c);
        }

        /// <summary>Takes the final state of `id` without waiting. Status.Ok (result set; the id
        /// is then forgotten), Status.Pending, Status.NotFound (unknown or already delivered),
        /// Status.Expired (evicted before it was popped), Status.InferenceFailed (final).</summary>
        public Status Pop(ulong id, out Landmarks result)
        {
            return PopCore(id, false, 0, out result);
        }

        /// <summary>Pop, waiting up to `timeout` (milliseconds, rounded up;
        /// Timeout.InfiniteTimeSpan waits about 49 days) for `id` to finish: Status.Timeout if it
        /// is still pending, Status.Cancelled if it was cancelled meanwhile.</summary>
        public Status PopWait(ulong id, TimeSpan timeout, out Landmarks result)
        {
            uint ms;
            if (timeout == System.Threading.Timeout.InfiniteTimeSpan)
                ms = uint.MaxValue;
            else if (timeout < TimeSpan.Zero)
                throw new ArgumentOutOfRangeException("timeout");
            else
                ms = (uint)Math.Min(uint.MaxValue, (timeout.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond);
            return PopCore(id, true, ms, out result);
        }

        /// <summary>PopWait with a timeout in milliseconds (0 is Pop).</summary>
        public Status PopWait(ulong id, uint timeoutMs, out Landmarks result)
        {
            return PopCore(id, true, timeoutMs, out result);
        }

        private Status PopCore(ulong id, bool wait, uint timeoutMs, out Landmarks result)
        {
            LmHandle h = Handle;
            return PopInto((ref lm_landmarks lm) => wait ? NativeMethods.lm_pop_wait(h, id, timeoutMs, ref lm)
                                                         : NativeMethods.lm_pop(h, id, ref lm),
                           out result);
        }

        /// <summary>One of the pop calls on a pinned buffer of the model's points.</summary>
        private delegate int PopCall(ref lm_landmarks lm);

        /// <summary>Runs a pop call; on BufferTooSmall (nothing consumed) once more with room for
        /// every point; converts an Ok result.</summary>
        private Status PopInto(PopCall call, out Landmarks result)
        {
            return PopInto(_numPoints, _chipBytes, call, out result);
        }

        /// <summary>PopInto with a first buffer of `numPoints` points and room for a chip of
        /// `chipBytes` (0: none is asked for).</summary>
        private static Status PopInto(int numPoints, int chipBytes, PopCall call, out Landmarks result)
        {
            int n = numPoints;
            for (int attempt = 0; ; attempt++)
            {
                var buf = new float[3 * n + 3];
                var chip = chipBytes > 0 ? new byte[chipBytes] : null;
                GCHandle pin = GCHandle.Alloc(buf, GCHandleType.Pinned);
                GCHandle chipPin = chip != null ? GCHandle.Alloc(chip, GCHandleType.Pinned) : default(GCHandle);
                var lm = new lm_landmarks
                {
                    struct_size = (UIntPtr)LandmarksSize,
                    points = pin.AddrOfPinnedObject(),
                    capacity = (uint)n,
                    chip = chip != null ? chipPin.AddrOfPinnedObject() : IntPtr.Zero,
                    chip_capacity = (UIntPtr)(uint)chipBytes,
                };
                Status st;
                try
                {
                    st = (Status)call(ref lm);
                }
                finally
                {
                    pin.Free();
                    if (chip != null)
                        chipPin.Free();
                }
                if (st == Status.BufferTooSmall && attempt == 0 && lm.num_points > n)
                {
                    n = (int)lm.num_points; // nothing was consumed: pop again with room for all
                    continue;
                }
                result = st == Status.Ok ? ToLandmarks(buf, n, chip, lm) : null;
                return st;
            }
        }

        /// <summary>
        /// The landmarks of `id`, as a task completed from the library's ready callback: no thread
        /// waits per id, so thousands of faces may be awaited at once. The task completes with the
        /// landmarks; faults with LmbatchException for InferenceFailed, Expired (evicted before it
        /// was taken) or NotFound (unknown, or taken by a Pop/PopNext meanwhile); is cancelled
        /// when `cancellationToken` fires, which also cancels the face in the library; and faults
        /// with ObjectDisposedException when the pipeline is disposed first. Continuations never
        /// run on the library's thread. One PopAsync per live id at a time
        /// (InvalidOperationException otherwise).
        /// </summary>
        public Task<Landmarks> PopAsync(ulong id, CancellationToken cancellationToken = default(CancellationToken))
        {
            LmHandle h = Handle;
            var tcs = new TaskCompletionSource<Landmarks>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (cancellationToken.IsCancellationRequested)
            {
                tcs.TrySetCanceled(cancellationToken);
                return tcs.Task;
            }
            _completions.Register(id, tcs);
            // It may have finished (and been announced) before it was registered: try now.
            _completions.TryComplete(id);
            if (cancellationToken.CanBeCanceled)
            {
                CancellationTokenRegistration reg = cancellationToken.Register(() =>
                {
                    if (_completions.Unregister(id, tcs))
                    {
                        if (!h.IsClosed)
                        {
                            try { NativeMethods.lm_cancel(h, id); }
                            catch (ObjectDisposedException) { }
                        }
                        tcs.TrySetCanceled(cancellationToken);
                    }
                });
                tcs.Task.ContinueWith(t => reg.Dispose(), CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
            return tcs.Task;
        }

        /// <summary>Takes the earliest-finished final state of any id, waiting up to `timeoutMs`
        /// (0: do not wait): Status.Ok with `id` and `result`; Status.InferenceFailed or
        /// Status.Expired with `id`; Status.Timeout when nothing finished. Each final state is
        /// delivered once, here or to a Pop of its id. A consumer thread loops with a finite
        /// timeout and is joined before Dispose.</summary>
        public Status PopNext(uint timeoutMs, out ulong id, out Landmarks result)
        {
            LmHandle h = Handle;
            ulong taken = 0;
            Status st = PopInto((ref lm_landmarks lm) => NativeMethods.lm_pop_next(h, timeoutMs, out taken, ref lm),
                                out result);
            id = taken;
            return st;
        }

        private static Landmarks ToLandmarks(float[] buf, int capacity, byte[] chip, lm_landmarks lm)
        {
            int got = (int)Math.Min(lm.num_points, (uint)capacity);
            var points = new Point3[got];
            for (int i = 0; i < got; i++)
                points[i] = new Point3(buf[3 * i], buf[3 * i + 1], buf[3 * i + 2]);
            int side = (int)lm.chip_side;
            byte[] written = null;
            if (side > 0 && chip != null && 3 * side * side <= chip.Length)
            {
                written = new byte[3 * side * side];
                Array.Copy(chip, written, written.Length);
            }
            return new Landmarks
            {
                Points = points,
                FaceScore = lm.face_score,
                QueueTime = Microseconds(lm.queue_us),
                InferTime = Microseconds(lm.infer_us),
                Roll = lm.roll,
                TrackBox = new Box(lm.track_box.x1, lm.track_box.y1, lm.track_box.x2, lm.track_box.y2),
                TrackRoll = lm.track_roll,
                Yaw = lm.yaw,
                Pitch = lm.pitch,
                HeadRoll = lm.head_roll,
                Quality = new Quality
                {
                    Sharpness = lm.quality.sharpness,
                    EyesOpen = lm.quality.eyes_open,
                    MouthOpen = lm.quality.mouth_open,
                    InterEyePx = lm.quality.inter_eye_px,
                    Frontal = lm.quality.frontal,
                    Overall = lm.quality.overall,
                },
                Chip = written,
                ChipSide = written != null ? side : 0,
            };
        }

        /// <summary>PopAsync's pending tasks by id. Not the Pipeline itself: the ready delegate
        /// reaches it through a weak reference, so an undisposed Pipeline can still be finalized.
        /// </summary>
        private sealed class Completions
        {
            private readonly Dictionary<ulong, TaskCompletionSource<Landmarks>> _pending =
                new Dictionary<ulong, TaskCompletionSource<Landmarks>>();
            private bool _closed;
            internal LmHandle Handle;
            internal int NumPoints;
            internal int ChipBytes;

            internal void Register(ulong id, TaskCompletionSource<Landmarks> tcs)
            {
                lock (_pending)
                {
                    if (_closed)
                        throw new ObjectDisposedException("Lmbatch.Pipeline");
                    if (_pending.ContainsKey(id))
                        throw new InvalidOperationException("a PopAsync of id " + id + " is already pending");
                    _pending.Add(id, tcs);
                }
            }

            internal bool Unregister(ulong id, TaskCompletionSource<Landmarks> tcs)
            {
                lock (_pending)
                {
                    TaskCompletionSource<Landmarks> mine;
                    if (!_pending.TryGetValue(id, out mine) || mine != tcs)
                        return false;
                    _pending.Remove(id);
                    return true;
                }
            }

            /// <summary>Pops `id` for its pending task, if it has one and a final state is there.
            /// Serialized, so the callback and PopAsync's own try never both pop the same id (the
            /// loser would see NotFound).</summary>
            internal void TryComplete(ulong id)
            {
                TaskCompletionSource<Landmarks> tcs;
                Status st;
                Landmarks result = null;
                lock (_pending)
                {
                    if (_closed || !_pending.TryGetValue(id, out tcs))
                        return;
                    st = PopNow(id, out result);
                    if (st == Status.Pending)
                        return;
                    _pending.Remove(id);
                }
                if (st == Status.Ok)
                    tcs.TrySetResult(result);
                else
                    tcs.TrySetException(new LmbatchException(st, "pop_async", null));
            }

            private Status PopNow(ulong id, out Landmarks result)
            {
                result = null;
                LmHandle h = Handle;
                if (h == null || h.IsClosed)
                    return Status.Pending;
                try
                {
                    return PopInto(NumPoints, ChipBytes, (ref lm_landmarks lm) => NativeMethods.lm_pop(h, id, ref lm), out result);
                }
                catch (ObjectDisposedException)
                {
                    return Status.Pending;
                }
            }

            /// <summary>Stops completions; returns the tasks still pending.</summary>
            internal List<TaskCompletionSource<Landmarks>> Close()
            {
                lock (_pending)
                {
                    _closed = true;
                    var orphans = new List<TaskCompletionSource<Landmarks>>(_pending.Values);
                    _pending.Clear();
                    return orphans;
                }
            }
        }

        /// <summary>The ready callback: runs on the library's worker thread, must not throw.</summary>
        private sealed class ReadyThunk
        {
            private readonly WeakReference _completions;
            internal readonly lm_ready_fn Callback;

            internal ReadyThunk(Completions completions)
            {
                _completions = new WeakReference(completions);
                Callback = Invoke;
            }

            private void Invoke(ulong id, int status, IntPtr user)
            {
                try
                {
                    var c = _completions.Target as Completions;
                    if (c != null)
                        c.TryComplete(id);
                }
                catch
                {
                    // Nothing may unwind into the library's thread.
                }
            }
        }

        private static TimeSpan Microseconds(ulong us)
        {
            return TimeSpan.FromTicks((long)Math.Min(us, (ulong)(long.MaxValue / 10)) * 10);
        }

        /// <summary>Discards a live id (queued, in flight, or finished and not popped); the id
        /// may be reused at once, and a PopWait blocked on it returns Status.Cancelled.
        /// Status.NotFound otherwise.</summary>
        public Status Cancel(ulong id)
        {
            return (Status)NativeMethods.lm_cancel(Handle, id);
        }

        /// <summary>A consistent snapshot of the counters.</summary>
        public Stats GetStats()
        {
            var s = new lm_stats
            {
                struct_size = (UIntPtr)Marshal.SizeOf(typeof(lm_stats)),
                batch_size_hist = new ulong[33],
            };
            var st = (Status)NativeMethods.lm_get_stats(Handle, ref s);
            if (st != Status.Ok)
                throw new LmbatchException(st, "stats", null);
            return new Stats
            {
                Accepted = s.accepted,
                RejectedFull = s.rejected_full,
                RejectedInvalid = s.rejected_invalid,
                Queued = s.queued,
                InFlight = s.in_flight,
                Ready = s.ready,
                Popped = s.popped,
                Expired = s.expired,
                Cancelled = s.cancelled,
                Failed = s.failed,
                Batches = s.batches,
                BatchSizeHist = (ulong[])s.batch_size_hist.Clone(),
                QueueP50 = Microseconds(s.queue_us_p50),
                QueueP99 = Microseconds(s.queue_us_p99),
                InferP50 = Microseconds(s.infer_us_p50),
                InferP99 = Microseconds(s.infer_us_p99),
                Degraded = s.degraded != 0,
                ReadyCallbacks = s.ready_callbacks,
                ReadyCallbackTime = Microseconds(s.ready_callback_us),
                ReadyCallbackMax = Microseconds(s.ready_callback_max_us),
                RemoteRetries = s.remote_retries,
                RemoteFailovers = s.remote_failovers,
            };
        }

        /// <summary>What the pipeline runs.</summary>
        public ModelInfo GetModelInfo()
        {
            var m = new lm_model_info
            {
                struct_size = (UIntPtr)Marshal.SizeOf(typeof(lm_model_info)),
                backend = new byte[32],
                fallback_reason = new byte[256],
                scheme = new byte[24],
            };
            var st = (Status)NativeMethods.lm_get_model_info(Handle, ref m);
            if (st != Status.Ok)
                throw new LmbatchException(st, "model_info", null);
            return new ModelInfo
            {
                Backend = Utf8.FromArray(m.backend),
                NumPoints = (int)m.num_points,
                InputWidth = (int)m.input_width,
                InputHeight = (int)m.input_height,
                MaxBatch = (int)m.max_batch,
                FallbackReason = Utf8.FromArray(m.fallback_reason),
                Dims = (int)m.dims,
                Scheme = Utf8.FromArray(m.scheme),
                Precision = (Precision)m.precision,
            };
        }

        /// <summary>Forwards the library's log calls to the user's Action. The delegate (and so
        /// its native thunk) is rooted by LmHandle.LogRoot until lm_destroy has returned.</summary>
        private sealed class LogThunk
        {
            private readonly Action<LogLevel, string> _sink;
            internal readonly lm_log_fn Callback;

            internal LogThunk(Action<LogLevel, string> sink)
            {
                _sink = sink;
                Callback = Invoke;
            }

            private void Invoke(int level, IntPtr message, IntPtr user)
            {
                try
                {
                    _sink((LogLevel)level, Utf8.FromPtr(message));
                }
                catch
                {
                    // Nothing may unwind into the library's thread.
                }
            }
        }
    }
}
