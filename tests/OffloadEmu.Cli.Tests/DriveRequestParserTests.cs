using System.Text.Json;
using OffloadEmu.Chimney.State;
using OffloadEmu.Cli.Drive;

namespace OffloadEmu.Cli.Tests;

/// <summary>The drive's request lines (docs/drive.md): every op's required fields, bad lines, and the synthetic
/// offload's state taken exactly as written.</summary>
public class DriveRequestParserTests
{
    private const string Offload = """
        {"id":5,"op":"offload","remote_ip":"198.18.0.3","remote_mac":"02:00:00:00:00:03","local_ip":"198.18.0.2",
         "const":{"local_port":5001,"remote_port":40001,"remote_mss":1400,"timestamps":true,"sack":true,"snd_wind_scale":7,"rcv_wind_scale":6},
         "delegated":{"snd_una":4294967280,"rcv_nxt":305419896,"snd_wnd":65536,"rcv_wnd":32768,"ts_recent":3000000000}}
        """;

    /// <summary>A valid line per op and the fields it cannot do without.</summary>
    public static TheoryData<string, string[]> ValidLines() => new()
    {
        { """{"id":1,"op":"bind"}""", [] },
        { """{"id":1,"op":"bind","local":"198.18.0.2/24","gateway":"198.18.0.1"}""", [] },
        { """{"id":1,"op":"parameters"}""", [] },
        { """{"id":1,"op":"connect","remote":"198.18.0.1:7"}""", ["remote"] },
        { """{"id":1,"op":"listen","port":5001}""", ["port"] },
        { """{"id":1,"op":"accept","port":5001}""", ["port"] },
        { Offload.ReplaceLineEndings(" "), ["remote_ip", "remote_mac", "const", "delegated"] },
        { """{"id":1,"op":"send","conn":1,"text":"hi"}""", ["conn", "text"] },
        { """{"id":1,"op":"post_receive","conn":1,"size":100}""", ["conn", "size"] },
        { """{"id":1,"op":"forward","conn":1,"hex":"4e224e23fffffe00fffff0005018ffffc0180000"}""", ["conn", "hex"] },
        { """{"id":1,"op":"read","conn":1}""", ["conn"] },
        { """{"id":1,"op":"update","conn":1,"cached":{"ttl":32}}""", ["conn", "cached"] },
        { """{"id":1,"op":"invalidate","conn":1}""", ["conn"] },
        { """{"id":1,"op":"query","conn":1}""", ["conn"] },
        { """{"id":1,"op":"terminate","conn":1}""", ["conn"] },
        { """{"id":1,"op":"disconnect","conn":1,"mode":"abortive"}""", ["conn"] },
        { """{"id":1,"op":"quit"}""", [] },
    };

    [Theory]
    [MemberData(nameof(ValidLines))]
    public void Every_op_parses_and_each_required_field_missing_is_an_error_naming_it(string line, string[] required)
    {
        var request = DriveRequestParser.Parse(line);
        Assert.Contains(request.IdJson, new[] { "1", "5" });
        foreach (string field in required)
        {
            var obj = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(line)!;
            Assert.True(obj.Remove(field), field);
            var ex = Assert.Throws<DriveRequestException>(() => DriveRequestParser.Parse(JsonSerializer.Serialize(obj)));
            Assert.Contains(field == "text" ? "exactly one of" : $"'{field}'", ex.Message);
        }
    }

    [Fact]
    public void The_op_table_and_the_tests_cover_the_same_ops()
    {
        var tested = ValidLines().Select(row => DriveRequestParser.Parse((string)row[0]).Op).ToHashSet();
        Assert.Equal(DriveRequestParser.Ops.Keys.Order(), tested.Order());
    }

    [Theory]
    [InlineData("not json", "malformed JSON")]
    [InlineData("{\"id\":1,\"op\":\"bind\"", "malformed JSON")]
    [InlineData("[1,2]", "a request is a JSON object")]
    [InlineData("42", "a request is a JSON object")]
    [InlineData("{\"op\":\"bind\"}", "'id' is required")]
    [InlineData("{\"id\":true,\"op\":\"bind\"}", "'id' is required")]
    [InlineData("{\"id\":1.5,\"op\":\"bind\"}", "'id' is required")]
    [InlineData("{\"id\":1}", "'op' is required")]
    [InlineData("{\"id\":1,\"op\":7}", "'op' is required")]
    [InlineData("{\"id\":1,\"op\":\"fly\"}", "unknown op 'fly'")]
    [InlineData("{\"id\":1,\"op\":\"send\",\"conn\":\"1\",\"text\":\"x\"}", "'conn' must be an integer")]
    [InlineData("{\"id\":1,\"op\":\"send\",\"conn\":0,\"text\":\"x\"}", "'conn' 0 is out of range")]
    [InlineData("{\"id\":1,\"op\":\"send\",\"conn\":1,\"text\":\"\"}", "empty")]
    [InlineData("{\"id\":1,\"op\":\"send\",\"conn\":1,\"text\":\"x\",\"hex\":\"00\"}", "exactly one of")]
    [InlineData("{\"id\":1,\"op\":\"send\",\"conn\":1,\"hex\":\"0\"}", "'hex' is not")]
    [InlineData("{\"id\":1,\"op\":\"send\",\"conn\":1,\"base64\":\"***\"}", "'base64' is not")]
    [InlineData("{\"id\":1,\"op\":\"post_receive\",\"conn\":1,\"size\":99999999}", "'size' 99999999 is out of range")]
    [InlineData("{\"id\":1,\"op\":\"forward\",\"conn\":1,\"hex\":\"4e224e23\"}", "a whole TCP segment, header first (at least 20 bytes)")]
    [InlineData("{\"id\":1,\"op\":\"post_receive\",\"conn\":1,\"size\":1,\"push\":1}", "'push' must be true or false")]
    [InlineData("{\"id\":1,\"op\":\"listen\",\"port\":0}", "'port' 0 is out of range")]
    [InlineData("{\"id\":1,\"op\":\"listen\",\"port\":65536}", "'port' 65536 is out of range")]
    [InlineData("{\"id\":1,\"op\":\"connect\",\"remote\":\"198.18.0.1\"}", "'remote' '198.18.0.1': expected HOST:PORT")]
    [InlineData("{\"id\":1,\"op\":\"bind\",\"local\":\"198.18.0.2/33\"}", "'local'")]
    [InlineData("{\"id\":1,\"op\":\"bind\",\"gateway\":\"x\"}", "'gateway' 'x' is not an IPv4 address")]
    [InlineData("{\"id\":1,\"op\":\"disconnect\",\"conn\":1,\"mode\":\"soft\"}", "graceful or abortive")]
    [InlineData("{\"id\":1,\"op\":\"bind\",\"frames\":\"yes\"}", "'frames' must be true or false")]
    [InlineData("{\"id\":1,\"op\":\"update\",\"conn\":1,\"cached\":[]}", "'cached' must be an object")]
    [InlineData("{\"id\":1,\"op\":\"update\",\"conn\":1,\"cached\":{\"ttl\":0}}", "'cached.ttl' 0 is out of range")]
    public void Bad_lines_are_one_error_each(string line, string expected)
    {
        var ex = Assert.Throws<DriveRequestException>(() => DriveRequestParser.Parse(line));
        Assert.Contains(expected, ex.Message);
    }

    [Theory]
    [InlineData("\"remote_mac\":\"02:00:00:00:00:03\"", "\"remote_mac\":\"02:00\"", "'remote_mac'")]
    [InlineData("\"remote_ip\":\"198.18.0.3\"", "\"remote_ip\":\"198.18.0\"", "'remote_ip'")]
    [InlineData("\"snd_wind_scale\":7", "\"snd_wind_scale\":15", "'const.snd_wind_scale' 15 is out of range 0..14")]
    [InlineData("\"remote_mss\":1400", "\"remote_mss\":10", "'const.remote_mss' 10 is out of range")]
    [InlineData("\"sack\":true", "\"sack\":\"yes\"", "'const.sack' must be true or false")]
    [InlineData("\"sack\":true", "\"sack\":true,\"window_scaling\":false", "window_scaling' is false but a window scale is set")]
    [InlineData("\"snd_una\":4294967280", "\"snd_una\":4294967296", "'delegated.snd_una' 4294967296 is out of range")]
    [InlineData("\"snd_una\":4294967280", "\"snd_una\":-1", "'delegated.snd_una' -1 is out of range")]
    [InlineData("\"ts_recent\":3000000000", "\"ts_recent\":3000000000,\"state\":\"SynSent\"", "cannot be offloaded")]
    [InlineData("\"ts_recent\":3000000000", "\"ts_recent\":3000000000,\"state\":\"Dancing\"", "is not a TCP state")]
    [InlineData("\"ts_recent\":3000000000", "\"ts_recent\":3000000000,\"state\":\"4\"", "is not a TCP state")]
    [InlineData("\"local_port\":5001,", "", "'const.local_port' is required")]
    [InlineData("\"remote_ip\":\"198.18.0.3\"", "\"remote_ip\":\"198.18.0.3\",\"indications\":\"ignore\"", "'indications' must be accept or refuse")]
    public void Offload_fields_are_checked(string from, string to, string expected)
    {
        string line = Offload.ReplaceLineEndings(" ");
        Assert.Contains(from, line);
        var ex = Assert.Throws<DriveRequestException>(() => DriveRequestParser.Parse(line.Replace(from, to)));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Offload_state_is_taken_exactly_as_written()
    {
        var spec = DriveRequestParser.Offload(DriveRequestParser.Parse(Offload.ReplaceLineEndings(" ")));
        Assert.Equal("198.18.0.3", spec.RemoteAddress.ToString());
        Assert.Equal("198.18.0.2", spec.LocalAddress!.Value.ToString());
        Assert.Equal(5001, spec.Const.LocalPort);
        Assert.Equal(40001, spec.Const.RemotePort);
        Assert.Equal(1400, spec.Const.RemoteMss);
        Assert.Equal(7, spec.Const.SndWindScale);
        Assert.Equal(6, spec.Const.RcvWindScale);
        Assert.Equal(TcpConstFlags.Timestamp | TcpConstFlags.Sack | TcpConstFlags.WindowScaling, spec.Const.Flags);
        var d = spec.Delegated;
        Assert.Equal(TcpState.Established, d.State);
        Assert.Equal(4294967280u, d.SndUna.Value);
        Assert.Equal(d.SndUna, d.SndNxt);
        Assert.Equal(d.SndUna, d.SndMax);
        Assert.Equal(305419896u, d.RcvNxt.Value);
        Assert.Equal(d.RcvNxt, d.SendWL1);
        Assert.Equal(65536u, d.SndWnd);
        Assert.Equal(65536u, d.MaxSndWnd);
        Assert.Equal(32768u, d.RcvWnd);
        Assert.Equal(3000000000u, d.TsRecent);
        Assert.Equal(14000u, d.CWnd); // 10 MSS unless given
        Assert.Null(spec.PathMtu);
        Assert.Equal(64, spec.Cached.TtlOrHopLimit);
        Assert.False(spec.RefuseIndications); // "indications" defaults to accept
        Assert.True(DriveRequestParser.Offload(DriveRequestParser.Parse(Offload.ReplaceLineEndings(" ")
            .Replace("\"remote_ip\":\"198.18.0.3\"", "\"remote_ip\":\"198.18.0.3\",\"indications\":\"refuse\""))).RefuseIndications);

        var closeWait = DriveRequestParser.Offload(DriveRequestParser.Parse(
            Offload.ReplaceLineEndings(" ").Replace("\"ts_recent\":3000000000", "\"ts_recent\":1,\"state\":\"closewait\",\"cwnd\":2920,\"srtt\":80")));
        Assert.Equal(TcpState.CloseWait, closeWait.Delegated.State);
        Assert.Equal(2920u, closeWait.Delegated.CWnd);
        Assert.Equal(80, closeWait.Delegated.SRtt);
    }

    [Theory]
    [InlineData("{\"id\":7,\"op\":\"fly\"}", "7")]
    [InlineData("{\"id\":\"a\\\"b\",\"op\":\"fly\"}", "\"a\\u0022b\"")]
    [InlineData("{\"id\":1.5}", null)]
    [InlineData("not json", null)]
    [InlineData("[7]", null)]
    public void The_id_of_a_bad_line_is_echoed_when_it_can_be_read(string line, string? id)
        => Assert.Equal(id, DriveRequestParser.TryReadId(line));

    [Fact]
    public void Send_data_decodes_text_hex_and_base64()
    {
        Assert.Equal("hé"u8.ToArray(), DriveRequestParser.Parse("""{"id":1,"op":"send","conn":1,"text":"hé"}""").Data());
        Assert.Equal(new byte[] { 0, 0xff, 0x10 }, DriveRequestParser.Parse("""{"id":1,"op":"send","conn":1,"hex":"00ff10"}""").Data());
        Assert.Equal(new byte[] { 1, 2, 3 }, DriveRequestParser.Parse("""{"id":1,"op":"send","conn":1,"base64":"AQID"}""").Data());
    }
}
