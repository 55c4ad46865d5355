package forwarder.engine;

/**
 * Which engine to run, fixed for the life of the JVM by a system property set on the java command line
 * ({@code engine.mjs start --plain} passes {@code -Dforwarder.engine.plain=true}):
 * <ul>
 *   <li>shimmed (default): stock OpenSearch plus the two Elasticsearch-client shims, {@link EsCompatPlugin}
 *       (the {@code X-elastic-product} header) and {@link EsMediaTypeProvider} (the {@code vnd.elasticsearch}
 *       media types);</li>
 *   <li>plain: stock OpenSearch, neither shim installed, for tests of clients made for OpenSearch.</li>
 * </ul>
 * A system property rather than an environment variable: {@link EsMediaTypeProvider} is consulted by
 * {@code MediaTypeRegistry}'s static initializer, possibly before {@code main} runs any code of ours, and the
 * flag is visible from outside (in {@code /proc/PID/cmdline} and in {@code GET _nodes/_local/jvm}).
 */
final class EngineMode {

    static final String PLAIN_PROPERTY = "forwarder.engine.plain";

    private EngineMode() {}

    static boolean plain() {
        return Boolean.parseBoolean(System.getProperty(PLAIN_PROPERTY, "false").trim());
    }

    static String describe() {
        return plain() ? "plain" : "shimmed";
    }
}
