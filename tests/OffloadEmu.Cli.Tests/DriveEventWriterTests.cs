using System.Text;
using System.Text.Json;
using OffloadEmu.Cli.Drive;

namespace OffloadEmu.Cli.Tests;

/// <summary>The drive's one writer: whole lines, ids echoed as written, a time on each, nothing lost at the end.</summary>
public class DriveEventWriterTests
{
    private static string[] Lines(MemoryStream s) => Encoding.UTF8.GetString(s.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Events_are_one_JSON_object_per_line_with_the_id_as_written_and_a_time()
    {
        var output = new MemoryStream();
        await using (var w = new DriveEventWriter(output))
        {
            w.Emit("bound", "7", j => j.WriteString("mac", "02:00:00:00:00:01"));
            w.Emit("state", null, j => j.WriteNumber("conn", 3));
            w.Emit("data", "\"req-1\"");
            w.Error(null, "malformed JSON: 'x'");
        }
        var lines = Lines(output);
        Assert.Equal(4, lines.Length);
        var docs = lines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal("bound", docs[0].GetProperty("event").GetString());
        Assert.Equal(7, docs[0].GetProperty("id").GetInt32());
        Assert.Equal("02:00:00:00:00:01", docs[0].GetProperty("mac").GetString());
        Assert.False(docs[1].TryGetProperty("id", out _));
        Assert.Equal("req-1", docs[2].GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.Null, docs[3].GetProperty("id").ValueKind);
        Assert.Equal("malformed JSON: 'x'", docs[3].GetProperty("error").GetString());
        double last = 0;
        foreach (var d in docs)
        {
            double t = d.GetProperty("time").GetDouble();
            Assert.True(t >= last);
            last = t;
        }
    }

    [Fact]
    public async Task Events_from_many_threads_never_interleave_and_none_is_lost()
    {
        var output = new MemoryStream();
        const int threads = 8, each = 2000;
        await using (var w = new DriveEventWriter(output))
        {
            var tasks = Enumerable.Range(0, threads).Select(t => Task.Run(() =>
            {
                for (int i = 0; i < each; i++) w.Emit("receive", null, j => { j.WriteNumber("thread", t); j.WriteString("pad", new string('x', i % 300)); j.WriteNumber("n", i); });
            })).ToArray();
            await Task.WhenAll(tasks);
        }
        var lines = Lines(output);
        Assert.Equal(threads * each, lines.Length);
        var next = new int[threads];
        foreach (var line in lines)
        {
            var d = JsonDocument.Parse(line).RootElement;
            int t = d.GetProperty("thread").GetInt32();
            Assert.Equal(next[t]++, d.GetProperty("n").GetInt32()); // each thread's events in its order
        }
    }
}
