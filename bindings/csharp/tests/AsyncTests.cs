// Completion tests of the C# binding (ABI 1.3): PopAsync completed from the library's ready
// callback, its cancellation, Dispose with tasks pending, and PopNext.

using System;
using System.Diagnostics;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Lmbatch;

namespace Lmbatch.Tests
{
    internal static partial class Program
    {
        private static void ThousandConcurrentPopAsyncResolveOnce()
        {
            const int n = 1000;
            using (var p = new Pipeline(new Config
            {
                Backend = Backend.Cpu,
                MaxBatch = 32,
                QueueCapacity = 1024,
                MaxWait = TimeSpan.FromMilliseconds(2),
            }))
            {
                // Four shifted frames, so a result handed to the wrong id shows.
                var images = new Image[4];
                var boxes = new Box[4];
                for (int g = 0; g < 4; g++)
                    images[g] = Shifted(9 * g, 5 * g, 7 * g, out boxes[g]);
                var resolved = new int[n];
                var tasks = new List<Task>(n);
                var errors = new List<string>();
                for (int i = 0; i < n; i++)
                {
                    int g = i % 4, index = i;
                    ulong id = 50000 + (ulong)i;
                    Status st;
                    while ((st = p.Enqueue(id, images[g], boxes[g])) == Status.QueueFull)
                        Thread.Sleep(1);
                    Equal(Status.Ok, st, "enqueue " + id);
                    tasks.Add(p.PopAsync(id).ContinueWith(t =>
                    {
                        Interlocked.Increment(ref resolved[index]);
                        string err = t.Status == TaskStatus.RanToCompletion
                            ? PointsError(t.Result, 9 * g, 5 * g)
                            : "task " + t.Status + ": " + t.Exception;
                        if (err != null)
                            lock (errors)
                                errors.Add("id " + id + ": " + err);
                    }));
                }
                Check(Task.WaitAll(tasks.ToArray(), TimeSpan.FromSeconds(300)), "not every PopAsync resolved");
                Check(errors.Count == 0, string.Join("; ", errors.Take(5)));
                Check(resolved.All(r => r == 1), "a task resolved other than once");
                // A task completes inside its ready callback (the callback pops the result), and
                // the library counts a callback once it has returned: the last count may trail
                // the last task by that return, so wait for it (bounded) rather than race it.
                Stats s = ReconciledStats(p);
                var counted = Stopwatch.StartNew();
                while (s.ReadyCallbacks < n && counted.Elapsed < TimeSpan.FromSeconds(30))
                {
                    Thread.Sleep(5);
                    s = ReconciledStats(p);
                }
                Check(s.Accepted == n && s.Popped == n && s.Ready == 0, "stats " + s);
                Check(s.ReadyCallbacks >= n, "ready callbacks " + s.ReadyCallbacks);
                Console.WriteLine("  {0} PopAsync resolved once each; {1} callbacks, {2:F1} ms in them (max {3:F3} ms)",
                    n, s.ReadyCallbacks, s.ReadyCallbackTime.TotalMilliseconds, s.ReadyCallbackMax.TotalMilliseconds);
            }
        }

        private static void PopAsyncCancellationCancelsTheFace()
        {
            // A long batch deadline keeps the lone face queued while the token fires.
            using (var p = new Pipeline(new Config
            {
                Backend = Backend.Cpu,
                MaxWait = TimeSpan.FromSeconds(2),
            }))
            using (var cts = new CancellationTokenSource())
            {
                Equal(Status.Ok, p.Enqueue(7, Astronaut(), AstroBox), "enqueue");
                Task<Landmarks> task = p.PopAsync(7, cts.Token);
                Check(!task.IsCompleted, "the task completed before the face ran");
                cts.Cancel();
                Check(((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(5)), "cancel did not end the task");
                Equal(TaskStatus.Canceled, task.Status, "task status");
                Stats s = ReconciledStats(p);
                Check(s.Cancelled == 1 && s.Queued == 0, "the face was not cancelled: " + s);
                Landmarks lm;
                Equal(Status.NotFound, p.Pop(7, out lm), "pop after cancel");
                // An unknown id fails at once; a second PopAsync of a pending id is refused.
                var unknown = p.PopAsync(12345);
                Check(((IAsyncResult)unknown).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(5)), "unknown id");
                var e = unknown.Exception.InnerException as LmbatchException;
                Check(e != null && e.Status == Status.NotFound, "unknown id gave " + unknown.Exception);
                Equal(Status.Ok, p.Enqueue(8, Astronaut(), AstroBox), "enqueue 8");
                var first = p.PopAsync(8);
                bool refused = false;
                try { p.PopAsync(8); }
                catch (InvalidOperationException) { refused = true; }
                Check(refused, "a second PopAsync of a pending id was accepted");
                Check(first.Wait(TimeSpan.FromSeconds(60)) && PointsError(first.Result, 0, 0) == null, "id 8");
            }
        }

        private static void DisposeCompletesPendingPopAsync()
        {
            var p = new Pipeline(new Config
            {
                Backend = Backend.Cpu,
                MaxWait = TimeSpan.FromSeconds(5),
                DrainTimeout = TimeSpan.Zero,
            });
            var tasks = new List<Task<Landmarks>>();
            for (ulong id = 1; id <= 5; id++)
            {
                Equal(Status.Ok, p.Enqueue(id, Astronaut(), AstroBox), "enqueue");
                tasks.Add(p.PopAsync(id));
            }
            // A thread waiting on the tasks, as a consumer would, while Dispose comes.
            var waiter = Task.Run(() => Task.WaitAll(tasks.ToArray(), TimeSpan.FromSeconds(30)));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            p.Dispose();
            Check(sw.Elapsed < TimeSpan.FromSeconds(5), "Dispose took " + sw.Elapsed);
            try { waiter.Wait(TimeSpan.FromSeconds(10)); }
            catch (AggregateException) { }
            foreach (var t in tasks)
            {
                Check(t.IsFaulted, "task " + t.Status);
                Check(t.Exception.InnerException is ObjectDisposedException, "task failed with " + t.Exception);
            }
            bool threw = false;
            try { p.PopAsync(1); }
            catch (ObjectDisposedException) { threw = true; }
            Check(threw, "PopAsync after Dispose");
        }

        private static void PopNextGivesTheId()
        {
            using (var p = Cpu(8, 1))
            {
                ulong id;
                Landmarks lm;
                Equal(Status.Timeout, p.PopNext(0, out id, out lm), "empty");
                Equal(Status.Ok, p.Enqueue(99, Astronaut(), AstroBox), "enqueue");
                Equal(Status.Ok, p.PopNext(60000, out id, out lm), "pop_next");
                Equal(99UL, id, "id");
                Check(PointsError(lm, 0, 0) == null, PointsError(lm, 0, 0));
                Box tb = lm.TrackBox;
                Point3 nose = lm.Points[1];
                Check(tb.X1 < nose.X && nose.X < tb.X2 && tb.Y1 < nose.Y && nose.Y < tb.Y2,
                      "pop_next's TrackBox holds the nose tip");
                Equal(Status.NotFound, p.Pop(99, out lm), "pop after pop_next");
            }
        }
    }
}
