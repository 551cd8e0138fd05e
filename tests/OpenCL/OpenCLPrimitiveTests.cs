using Engine.Backends;
using Engine.Tests.Backends;
using NUnit.Framework;

namespace Engine.Tests.OpenCL;

/// <summary>
/// The primitive set on the first OpenCL device (PoCL in CI), against the CPU, with the device's
/// default GEMM (CLBlast when installed); <see cref="OpenCLGemmPathTests"/> checks every GEMM path.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpenCLPrimitiveTests : BackendPrimitiveTests
{
    protected override IBackend Backend => OpenCLTestDevice.Backend;
}
