// chaind: a minimal Cosmos SDK chain daemon for switchyard's end-to-end tests.
//
// One source for every SDK line the e2e runs (v0.50, v0.53, v0.54), selected with a build tag
// (sdk050, sdk053, sdk054) and built against that line's modules at exact versions by
// e2e/build-binaries.sh. The version it reports (`version --long --output json`, and the
// software-version CometBFT logs in its ABCI handshake) is set with -X ldflags.
package main

import (
	"errors"
	"os"
	"path/filepath"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/spf13/cobra"

	"cosmossdk.io/client/v2/autocli"
	"cosmossdk.io/depinject"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/config"
	"github.com/cosmos/cosmos-sdk/client/keys"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/server"
	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"
	"github.com/cosmos/cosmos-sdk/types/module"
	authcli "github.com/cosmos/cosmos-sdk/x/auth/client/cli"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	genutilcli "github.com/cosmos/cosmos-sdk/x/genutil/client/cli"
)

var defaultNodeHome = func() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".chaind"
	}
	return filepath.Join(home, ".chaind")
}()

func main() {
	if err := svrcmd.Execute(newRootCmd(), "", defaultNodeHome); err != nil {
		os.Exit(1)
	}
}

// ProvideClientContext is the CLI's starting client context; flags and client.toml complete it.
func ProvideClientContext(cdc codec.Codec, reg codectypes.InterfaceRegistry, txConfig client.TxConfig, amino *codec.LegacyAmino) client.Context {
	return client.Context{}.
		WithCodec(cdc).
		WithInterfaceRegistry(reg).
		WithTxConfig(txConfig).
		WithLegacyAmino(amino).
		WithInput(os.Stdin).
		WithAccountRetriever(authtypes.AccountRetriever{}).
		WithHomeDir(defaultNodeHome).
		WithViper("")
}

func newRootCmd() *cobra.Command {
	var (
		autoCliOpts autocli.AppOptions
		basics      module.BasicManager
		clientCtx   client.Context
	)
	if err := depinject.Inject(
		depinject.Configs(chainConfig(), depinject.Supply(nopLogger()), depinject.Provide(ProvideClientContext)),
		&autoCliOpts, &basics, &clientCtx,
	); err != nil {
		panic(err)
	}

	root := &cobra.Command{
		Use:           appName,
		Short:         "a minimal Cosmos SDK chain for switchyard's end-to-end tests",
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.OutOrStdout())
			cmd.SetErr(cmd.ErrOrStderr())
			ctx := clientCtx.WithCmdContext(cmd.Context()).WithOutput(cmd.OutOrStdout())
			ctx, err := client.ReadPersistentCommandFlags(ctx, cmd.Flags())
			if err != nil {
				return err
			}
			if ctx, err = config.ReadFromClientConfig(ctx); err != nil {
				return err
			}
			if err := client.SetCmdClientContextHandler(ctx, cmd); err != nil {
				return err
			}
			return server.InterceptConfigsPreRunHandler(cmd, "", nil, cmtcfg.DefaultConfig())
		},
	}

	query := &cobra.Command{Use: "query", Aliases: []string{"q"}, Short: "Querying subcommands", RunE: client.ValidateCmd}
	query.AddCommand(authcli.QueryTxCmd(), server.QueryBlockCmd())
	tx := &cobra.Command{Use: "tx", Short: "Transactions subcommands", RunE: client.ValidateCmd}

	root.AddCommand(
		genutilcli.InitCmd(basics, defaultNodeHome),
		genutilcli.Commands(clientCtx.TxConfig, basics, defaultNodeHome),
		keys.Commands(),
		server.StatusCommand(),
		query,
		tx,
	)
	// start, comet, export, version, rollback
	addServerCommands(root)

	// every module's query and tx commands (autocli, and the modules' own custom ones)
	if err := autoCliOpts.EnhanceRootCommand(root); err != nil {
		panic(err)
	}
	return root
}

var errNoExport = errors.New("chaind does not export state")
