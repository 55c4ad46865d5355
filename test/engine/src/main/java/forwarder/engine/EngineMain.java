package forwarder.engine;

import java.io.IOException;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Starts a single-node OpenSearch for the forwarder's integration tests and blocks until the JVM is told to stop
 * (SIGTERM/SIGINT run the shutdown hook, which closes the node).
 *
 * <p>Environment:
 * <ul>
 *   <li>{@code ENGINE_PORT}: HTTP port on 127.0.0.1 (default 9250). Startup fails at once if it is taken.</li>
 *   <li>{@code ENGINE_HOME}: {@code path.home}. It is wiped on start, so it must be missing, empty, or a home this
 *       launcher made before (it carries a marker file). Default: a new temp dir under {@code test/engine/target/},
 *       deleted again on a clean shutdown.</li>
 *   <li>{@code ENGINE_CLUSTER_NAME}: cluster name (default {@code forwarder-it}).</li>
 * </ul>
 * System property {@code forwarder.engine.plain=true} (on the java command line): plain mode, stock OpenSearch
 * without the Elasticsearch-client shims ({@link EngineMode}).
 * Logs go to stdout; {@code engine.mjs} redirects them into a file under {@code test/engine/target/}.
 */
public final class EngineMain {

    static final String MARKER = ".forwarder-test-engine";
    static final String TRANSPORT_PORTS = "9350-9399";
    static final String NODE_NAME = "it-0";

    private EngineMain() {}

    public static void main(String[] args) {
        // Must run before anything touches log4j: our hook closes the node first, and log4j must still work then.
        System.setProperty("log4j.shutdownHookEnabled", "false");
        System.setProperty("log4j2.disable.jmx", "true");
        PrintStream err = System.err;
        try {
            run();
        } catch (Throwable t) {
            err.println("ENGINE_FAILED: " + t);
            t.printStackTrace(err);
            err.flush();
            Runtime.getRuntime().halt(1);
        }
    }

    private static void run() throws Exception {
        Map<String, String> env = System.getenv();
        int port = parsePort(env.getOrDefault("ENGINE_PORT", "9250"));
        String clusterName = env.getOrDefault("ENGINE_CLUSTER_NAME", "forwarder-it");
        boolean plain = EngineMode.plain();

        ensurePortFree(port);

        String givenHome = env.get("ENGINE_HOME");
        boolean tempHome = givenHome == null || givenHome.isBlank();
        Path home = tempHome ? newTempHome() : prepareGivenHome(Path.of(givenHome));
        Files.writeString(home.resolve(MARKER), "path.home of the forwarder's test engine; wiped on every start\n");
        Path config = Files.createDirectories(home.resolve("config"));
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        Files.createDirectories(home.resolve("plugins"));
        Files.createDirectories(home.resolve("modules"));
        Files.createDirectories(home.resolve("tmp")); // engine.mjs points java.io.tmpdir here
        writeLogConfig(config);

        EngineNodeHolder holder;
        try {
            holder = EngineNodeHolder.start(home, port, clusterName, plain);
        } catch (Throwable t) {
            if (tempHome) {
                deleteTree(home);
            }
            throw t;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                holder.close();
                if (tempHome) {
                    deleteTree(home);
                }
            } catch (Throwable t) {
                t.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "engine-shutdown"));

        System.out.println("ENGINE_READY http://127.0.0.1:" + port + " pid=" + ProcessHandle.current().pid() + " home=" + home
            + " mode=" + EngineMode.describe());
        System.out.flush();
        stopped.await();
    }

    static int parsePort(String raw) {
        int port;
        try {
            port = Integer.parseInt(raw.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("ENGINE_PORT is not a number: " + raw);
        }
        if (port < 1024 || port > 65535) {
            throw new IllegalArgumentException("ENGINE_PORT out of range 1024-65535: " + port);
        }
        if (port >= 9350 && port <= 9399) {
            throw new IllegalArgumentException("ENGINE_PORT " + port + " collides with the transport range " + TRANSPORT_PORTS);
        }
        return port;
    }

    /** Fails fast (instead of after a slow node start) when something already listens on the HTTP port. */
    static void ensurePortFree(int port) throws IOException {
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), port));
        } catch (BindException e) {
            throw new IllegalStateException("port 127.0.0.1:" + port + " is already in use (" + e.getMessage() + ")");
        }
    }

    private static Path targetDir() throws URISyntaxException {
        // target/classes (or target/test-engine-*.jar) -> target
        Path codeSource = Path.of(EngineMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        return codeSource.getParent();
    }

    private static Path newTempHome() throws IOException, URISyntaxException {
        return Files.createTempDirectory(targetDir(), "engine-home-");
    }

    private static Path prepareGivenHome(Path home) throws IOException {
        home = home.toAbsolutePath().normalize();
        if (Files.isDirectory(home)) {
            boolean empty;
            try (Stream<Path> children = Files.list(home)) {
                empty = children.findAny().isEmpty();
            }
            if (!empty) {
                if (!Files.exists(home.resolve(MARKER))) {
                    throw new IllegalStateException("ENGINE_HOME " + home + " is not empty and was not made by this launcher; refusing to wipe it");
                }
                // ENGINE_KEEP_DATA=1: a restart of the same engine (outage tests) keeps its indices.
                if (!"1".equals(System.getenv("ENGINE_KEEP_DATA"))) {
                    deleteTree(home);
                }
            }
        }
        return Files.createDirectories(home);
    }

    private static void writeLogConfig(Path config) throws IOException {
        List<String> lines = List.of(
            "status = error",
            "appender.console.type = Console",
            "appender.console.name = console",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n",
            "rootLogger.level = info",
            "rootLogger.appenderRef.console.ref = console"
        );
        Files.write(config.resolve("log4j2.properties"), lines, StandardCharsets.UTF_8);
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Keeps the OpenSearch imports out of main() so the log4j system properties are set before any of it loads. */
    static final class EngineNodeHolder {
        private final org.opensearch.node.Node node;

        private EngineNodeHolder(org.opensearch.node.Node node) {
            this.node = node;
        }

        static EngineNodeHolder start(Path home, int port, String clusterName, boolean plain) throws Exception {
            org.opensearch.common.settings.Settings settings = org.opensearch.common.settings.Settings.builder()
                .put("cluster.name", clusterName)
                .put("node.name", NODE_NAME)
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("discovery.type", "single-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", Integer.toString(port))
                .put("transport.port", TRANSPORT_PORTS)
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .build();
            org.opensearch.env.Environment environment = org.opensearch.node.InternalSettingsPreparer.prepareEnvironment(
                settings, Map.of(), home.resolve("config"), () -> NODE_NAME);
            org.opensearch.common.logging.LogConfigurator.registerErrorListener();
            org.opensearch.common.logging.LogConfigurator.setNodeName(NODE_NAME); // needed by %node_name
            org.opensearch.common.logging.LogConfigurator.configure(environment);

            EngineNode node = new EngineNode(environment, plain);
            try {
                checkMediaTypes(plain);
                node.start();
            } catch (Throwable t) {
                try {
                    node.close();
                } catch (Throwable suppressed) {
                    t.addSuppressed(suppressed);
                }
                throw t;
            }
            return new EngineNodeHolder(node);
        }

        /** The media-type shim is a ServiceLoader registration: make sure it is in effect exactly when it should be. */
        static void checkMediaTypes(boolean plain) {
            for (String type : List.of("application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson")) {
                boolean known = org.opensearch.core.xcontent.MediaTypeRegistry.fromMediaType(type) != null;
                if (known == plain) {
                    throw new IllegalStateException(
                        "media type " + type + (plain ? " is registered in plain mode" : " is not registered (shim missing)"));
                }
            }
        }

        void close() throws IOException, InterruptedException {
            node.close();
            node.awaitClose(10, TimeUnit.SECONDS);
        }
    }
}
