using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using OffloadEmu.Wire;

namespace OffloadEmu.Benchmarks;

/// <summary>Internet checksum over frame-sized and jumbo buffers: the portable scalar loop against the
/// Vector256 path (architecture §4). The throughput column is bytes / mean time.</summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class ChecksumBenchmarks
{
    private byte[] _data = [];

    /// <summary>Bytes summed per call: a minimum frame, a standard MTU, a jumbo frame, a maximal TSO/LSO send.</summary>
    [Params(64, 1500, 9000, 65536)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(42).NextBytes(_data);
    }

    [Benchmark(Baseline = true)]
    public ushort Scalar() => InternetChecksum.Fold(InternetChecksum.AccumulateScalar(_data, 0));

    [Benchmark]
    public ushort Vector() => InternetChecksum.Fold(InternetChecksum.AccumulateVector(_data, 0));

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new ThroughputColumn());
    }

    /// <summary>GB/s from the Size parameter and the mean time per call.</summary>
    private sealed class ThroughputColumn : IColumn
    {
        public string Id => nameof(ThroughputColumn);
        public string ColumnName => "GB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Throughput in 10^9 bytes per second (Size / Mean)";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is not { } stats) return "NA";
            var size = benchmarkCase.Parameters["Size"];
            if (size is not int bytes || stats.Mean <= 0) return "NA";
            return (bytes / stats.Mean).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture); // bytes per ns = GB/s
        }
    }
}
