package main

// The application: a runtime (depinject) app whose configuration is built in Go below, with the
// modules a chain needs to vote for and run an upgrade: auth, the tx config, bank, staking,
// distribution (x/gov's depinject inputs require it), gov, upgrade, consensus and genutil.
//
// Everything that differs between SDK lines (import paths, the Build and AppCreator signatures,
// which upgrade handler this build registers) lives in the sdk05*.go files, one per line, selected
// by build tag.

import (
	"context"

	runtimev1alpha1 "cosmossdk.io/api/cosmos/app/runtime/v1alpha1"
	appv1alpha1 "cosmossdk.io/api/cosmos/app/v1alpha1"
	authmodulev1 "cosmossdk.io/api/cosmos/auth/module/v1"
	bankmodulev1 "cosmossdk.io/api/cosmos/bank/module/v1"
	consensusmodulev1 "cosmossdk.io/api/cosmos/consensus/module/v1"
	distrmodulev1 "cosmossdk.io/api/cosmos/distribution/module/v1"
	genutilmodulev1 "cosmossdk.io/api/cosmos/genutil/module/v1"
	govmodulev1 "cosmossdk.io/api/cosmos/gov/module/v1"
	stakingmodulev1 "cosmossdk.io/api/cosmos/staking/module/v1"
	txconfigv1 "cosmossdk.io/api/cosmos/tx/config/v1"
	upgrademodulev1 "cosmossdk.io/api/cosmos/upgrade/module/v1"
	"cosmossdk.io/core/appconfig"
	"cosmossdk.io/depinject"

	"github.com/cosmos/cosmos-sdk/baseapp"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/runtime"
	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	"github.com/cosmos/cosmos-sdk/types/module"

	// each of these registers its module with depinject (the upgrade module: in the sdk05*.go file)
	_ "github.com/cosmos/cosmos-sdk/x/auth"
	_ "github.com/cosmos/cosmos-sdk/x/auth/tx/config"
	_ "github.com/cosmos/cosmos-sdk/x/bank"
	_ "github.com/cosmos/cosmos-sdk/x/consensus"
	_ "github.com/cosmos/cosmos-sdk/x/distribution"
	"github.com/cosmos/cosmos-sdk/x/genutil"
	genutiltypes "github.com/cosmos/cosmos-sdk/x/genutil/types"
	_ "github.com/cosmos/cosmos-sdk/x/gov"
	_ "github.com/cosmos/cosmos-sdk/x/staking"
)

const (
	appName = "chaind"

	// module names (the same strings as each module's types.ModuleName)
	mAuth      = "auth"
	mTx        = "tx"
	mBank      = "bank"
	mStaking   = "staking"
	mDistr     = "distribution"
	mGov       = "gov"
	mUpgrade   = "upgrade"
	mConsensus = "consensus"
	mGenutil   = "genutil"

	feeCollector        = "fee_collector"
	bondedTokensPool    = "bonded_tokens_pool"
	notBondedTokensPool = "not_bonded_tokens_pool"
)

// chainConfig is the app configuration, written in Go (no YAML/JSON file).
func chainConfig() depinject.Config {
	// The same block order serves every line: a name whose module has no hook of that kind is
	// skipped. Pre-blockers: upgrade (halts for a plan, runs handlers) and, since v0.53, auth
	// (unordered transactions; v0.53 panics at start unless auth is a pre-blocker). End
	// blockers: bank first, as v0.54 requires (before v0.54 bank has none).
	pre := []string{mUpgrade, mAuth}
	begin := []string{mDistr, mStaking}
	end := []string{mBank, mGov, mStaking}
	genesis := []string{mAuth, mBank, mDistr, mStaking, mGov, mGenutil, mUpgrade, mConsensus}

	perm := func(acct string, perms ...string) *authmodulev1.ModuleAccountPermission {
		return &authmodulev1.ModuleAccountPermission{Account: acct, Permissions: perms}
	}
	modules := appconfig.Compose(&appv1alpha1.Config{
		Modules: []*appv1alpha1.ModuleConfig{
			{Name: runtime.ModuleName, Config: appconfig.WrapAny(&runtimev1alpha1.Module{
				AppName:       appName,
				PreBlockers:   pre,
				BeginBlockers: begin,
				EndBlockers:   end,
				InitGenesis:   genesis,
				ExportGenesis: genesis,
			})},
			{Name: mAuth, Config: appconfig.WrapAny(&authmodulev1.Module{
				Bech32Prefix: "cosmos",
				ModuleAccountPermissions: []*authmodulev1.ModuleAccountPermission{
					perm(feeCollector),
					perm(mDistr),
					perm(bondedTokensPool, "burner", "staking"),
					perm(notBondedTokensPool, "burner", "staking"),
					perm(mGov, "burner"),
				},
			})},
			{Name: mTx, Config: appconfig.WrapAny(&txconfigv1.Config{})},
			{Name: mBank, Config: appconfig.WrapAny(&bankmodulev1.Module{})},
			{Name: mStaking, Config: appconfig.WrapAny(&stakingmodulev1.Module{})},
			{Name: mDistr, Config: appconfig.WrapAny(&distrmodulev1.Module{})},
			{Name: mGov, Config: appconfig.WrapAny(&govmodulev1.Module{})},
			{Name: mUpgrade, Config: appconfig.WrapAny(&upgrademodulev1.Module{})},
			{Name: mConsensus, Config: appconfig.WrapAny(&consensusmodulev1.Module{})},
			{Name: mGenutil, Config: appconfig.WrapAny(&genutilmodulev1.Module{})},
		},
	})
	// the genesis commands (gentx, collect-gentxs) need genutil's basic module with its gentx
	// validator, which depinject alone does not build
	basics := map[string]module.AppModuleBasic{
		mGenutil: genutil.NewAppModuleBasic(genutiltypes.DefaultMessageValidator),
	}
	return depinject.Configs(modules, depinject.Supply(basics))
}

// chainApp is the node's application.
type chainApp struct {
	*runtime.App
	appCodec          codec.Codec
	legacyAmino       *codec.LegacyAmino
	txConfig          client.TxConfig
	interfaceRegistry codectypes.InterfaceRegistry
	upgradeKeeper     *upgradeKeeper
}

// newChainApp wires the app from chainConfig and loads the latest committed state.
func newChainApp(logger sdkLogger, appOpts servertypes.AppOptions, build func(*runtime.AppBuilder) *runtime.App) *chainApp {
	app := &chainApp{}
	var appBuilder *runtime.AppBuilder
	if err := depinject.Inject(
		depinject.Configs(chainConfig(), depinject.Supply(logger, appOpts)),
		&appBuilder, &app.appCodec, &app.legacyAmino, &app.txConfig, &app.interfaceRegistry, &app.upgradeKeeper,
	); err != nil {
		panic(err)
	}
	app.App = build(appBuilder)
	registerUpgradeHandler(app)
	if err := app.Load(true); err != nil {
		panic(err)
	}
	return app
}

// runMigrations is what this build's upgrade handler does: the module migrations from the
// versions recorded on chain to this build's.
func (app *chainApp) runMigrations(ctx context.Context, fromVM module.VersionMap) (module.VersionMap, error) {
	app.Logger().Info("chaind: running module migrations", "handler", upgradeHandlerName)
	return app.ModuleManager.RunMigrations(ctx, app.Configurator(), fromVM)
}

// baseAppOptions are the node's options from app.toml and the start flags (halt-height,
// pruning, min gas prices, ...).
type baseAppOptions = []func(*baseapp.BaseApp)
