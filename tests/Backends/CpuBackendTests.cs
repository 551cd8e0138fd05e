using Engine.Backends;
using NUnit.Framework;

namespace Engine.Tests.Backends;

/// <summary>The primitive set on host arrays (<see cref="CpuBackend"/>), against the same CPU oracles.</summary>
[TestFixture]
public class CpuBackendTests : BackendPrimitiveTests
{
    private readonly CpuBackend _cpu = new();

    protected override IBackend Backend => _cpu;
}
